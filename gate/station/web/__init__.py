"""The officers' web console: a Starlette app on uvicorn beside the station consumer (`serve`)."""
