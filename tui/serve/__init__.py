"""`quorum serve`: the dashboard in a browser.

Each browser tab that opens the page gets a dashboard process of its own (the same `quorum`
command, run under Textual's web driver), with the configuration, keys and history of the user
who started the server. `guard` decides who may reach it (loopback, token, Origin and Host);
`server` serves the page, its static files and the websocket each tab's terminal speaks over
(textual-serve's process protocol, over aiohttp), and ends every dashboard it started.

Only `server` imports textual-serve and aiohttp, and only `quorum serve` imports `server`.
"""
