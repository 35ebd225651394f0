"""OGC API Features (Part 1 Core, GeoJSON, HTML; Part 2 CRS) over the store.

Resources map one-to-one onto routes (`routes`), collections name the store's feature layers and
turn requests into their queries (`collections`), and everything a client can get wrong is parsed
in one place (`params`) and answered with an OGC exception body (`errors`).
"""
