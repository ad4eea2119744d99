"""Publications: French typography helpers and Vega-Lite chart specifications."""
