"""The HTTP service: FastAPI app, micro-batching, metrics (`pip install ".[serve]"`).

`serving.app:create_app` builds the app (`uvicorn --factory serving.app:create_app`, or
`categorizer serve --bundle DIR`). Imports categorizer, fastapi, uvicorn and prometheus-client
only: never torch, transformers or training.
"""
