"""What the core asks of the outside world: the interfaces of card printers, biometric scanners,
verifiers (adapters to a central system), matchers and region rules.

A plugin provides a device by registering a **factory** for it (``ektp_register_printers``,
``ektp_register_scanners``, ``ektp_register_verifiers``, ``ektp_register_matchers``,
``ektp_register_region_rules``); a profile picks it by name, and the core builds it with the
arguments the factory names among ``name``, ``options`` and ``profile``. The object built follows
the protocol of its kind (``CardPrinter``, ``BiometricScanner``, ``Verifier``, ``Matcher``,
``RegionRules``), and talks to the core in the types below. The core imports no imaging, USB or
web library: what crosses the interface is plain data.
"""
