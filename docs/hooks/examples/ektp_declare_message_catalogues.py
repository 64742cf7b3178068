"""A plugin whose messages render in Indonesian and English: its catalogues sit beside its code.

The folder holds ``en.json`` and ``id.json``, for example ``id.json``::

    {"_language": "Bahasa Indonesia",
     "hubs.closed": "Kantor {hub} tutup pada hari {day:day}: kartu dicetak di {office}"}

and the plugin says ``Message("hubs.closed", hub=..., day="friday", office=...)`` wherever the core takes
a message (a routing reason, an error): the web UI shows it in Indonesian, the CLI in English.
"""

from pathlib import Path

from ektp_core import hookimpl


@hookimpl
def ektp_declare_message_catalogues(folders):
    folders.append(Path(__file__).with_name("locales"))
