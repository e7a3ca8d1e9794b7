"""The officers' web console: a Starlette app on uvicorn beside the station consumer (`serve`).
app (pages, login, stream), context (sessions, CSRF), api_alarms, api_gates, events (SSE fan-out),
i18n (gettext catalogues), server (the supervised process), tone (the alarm sound)."""
