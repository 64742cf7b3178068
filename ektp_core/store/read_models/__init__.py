"""Read models: the data each page and report shows, read in one snapshot, next to the tables.

Plain functions that take a ``Connection`` (a ``Store.read()`` transaction, so every figure of a page
comes from one snapshot) and plain arguments, and return frozen attrs values. No web framework, no
HTML: the web UI, the CLI and reports share them.

- :mod:`.dashboard`: the dashboard's figures (by state, per local day, per site, what waits);
- :mod:`.print_queue`: a page of a site's print queue with its counts and the printers' counter checks;
- :mod:`.blank_stock`: the blank ledger, the spoiled blanks and the daily stock report;
- :mod:`.enrolment_search`: finding enrolments (NIK, NIK prefix, name) and looking one up;
- :mod:`.recordings`: the recordings still in progress at a site;
- :mod:`.sync_status`: the outbox's packets, the sites joined, the signed jobs waiting;
- :mod:`.periods`: counts over local days from the counters kept per UTC hour.

Counts come from :mod:`ektp_core.store.counters` (kept in the same transaction as each change) or from
indexed, bounded queries: no page reads a number of rows that grows with the office's history.
"""
