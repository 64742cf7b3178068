"""The domain: frozen value types of the KTP-el, NIK rules, Kemendagri regions, SIAK code lists."""
