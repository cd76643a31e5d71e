"""The shop's areas, one module or package each; each declares its routes in a RouteTable."""
