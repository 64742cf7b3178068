"""Card-printer plugins: the KTP-el layout renderer (``layout``), the Evolis driver over USB with its
protocol-level emulator (``evolis``), and the proof printer that writes PDF and PNG (``proof``).

Each is its own plugin with its own entry point, so a profile can block any one of them.
"""
