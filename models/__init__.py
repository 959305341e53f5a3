"""The building model and the domain types: the bottom layer, importing no other package here."""
