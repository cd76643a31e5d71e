-- The derived figures of a product can no longer overflow their columns (issue 10).  A product
-- priced 0.01 with a cost price of 100000 has a margin of -9,999,900 %, which numeric(7, 2) cannot
-- hold, so its INSERT failed; a 1 g product priced 4000 had the same problem with price_per_unit
-- (numeric(12, 4)).  A figure out of its column's range is now NULL ("not meaningful"), never an
-- error.  PostgreSQL 15 cannot change a generated expression in place: the derived columns are
-- dropped and added again (their values are recomputed from price, cost, weight and unit).

ALTER TABLE products
    DROP COLUMN margin_percentage,
    ADD COLUMN margin_percentage numeric(7, 2) GENERATED ALWAYS AS (
        CASE WHEN cost_price > 0 AND price > 0 AND abs((price - cost_price) / price * 100) < 99999.99
             THEN round((price - cost_price) / price * 100, 2) END
    ) STORED,
    DROP COLUMN price_per_unit,
    -- Per-ounce price for weight units, else per display unit; null without a weight.
    ADD COLUMN price_per_unit numeric(12, 4) GENERATED ALWAYS AS (
        CASE WHEN weight IS NOT NULL
              AND price / (weight * CASE unit WHEN 'kg' THEN 35.274 WHEN 'g' THEN 0.035274
                                              WHEN 'lb' THEN 16 ELSE 1 END) < 99999999
             THEN round(price / (weight * CASE unit WHEN 'kg' THEN 35.274 WHEN 'g' THEN 0.035274
                                                    WHEN 'lb' THEN 16 ELSE 1 END), 4) END
    ) STORED;

ALTER TABLE product_variants
    DROP COLUMN margin_percentage,
    ADD COLUMN margin_percentage numeric(7, 2) GENERATED ALWAYS AS (
        CASE WHEN cost_price > 0 AND price > 0 AND abs((price - cost_price) / price * 100) < 99999.99
             THEN round((price - cost_price) / price * 100, 2) END
    ) STORED;
