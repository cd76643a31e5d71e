-- Purchase orders carry the 5% tax the store's users have always seen on them (issue 10): the
-- default of 0006 silently changed every PO total. A store that set another rate keeps it.
UPDATE settings
SET value = '0.05',
    description = 'Tax rate on purchase orders (a fraction: 0.05 is 5%)'
WHERE key = 'purchase_tax_rate' AND value = '0';
