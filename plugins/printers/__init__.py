"""Card-printer plugins (layout renderer, Evolis over USB, proof printer): built in issue 3.

Nothing is registered from here yet, so no entry point points at this package.
"""
