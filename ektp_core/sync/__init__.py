"""The link between a regency's nodes: signed packets up to the Dukcapil node, a signed feed back down."""
