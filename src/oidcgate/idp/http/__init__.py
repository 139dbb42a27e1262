"""The identity provider over HTTP (Starlette): JSON endpoints (`app`), HTML pages (`pages`), the REST
admin API (`admin_api`) and their shared helpers (`web`). Nothing here decides protocol questions."""
