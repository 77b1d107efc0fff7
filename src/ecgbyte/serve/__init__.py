"""Use a trained run like any other model: export it, print its prompts as ids, serve it over HTTP.

- :mod:`ecgbyte.serve.export`: ``ecgbyte export`` (:func:`~ecgbyte.serve.export.export_run`), a
  plain Hugging Face folder (merged weights or a PEFT adapter, a text tokenizer whose vocabulary
  names the ECG tokens, ``generation_config.json``, the ECG-Byte tokenizer, a model card);
- :mod:`ecgbyte.serve.prompt`: ``ecgbyte prompt`` (:func:`~ecgbyte.serve.prompt.prompt_ids`), the
  prompt of one question as token ids, for any engine that takes ids;
- :mod:`ecgbyte.serve.uploads`: an uploaded ECG (WFDB files, ``.npy``, ``.npz``, a ``.zip``) into an
  :class:`~ecgbyte.ecg.Ecg`, inside a temporary folder that is always removed;
- :mod:`ecgbyte.serve.batcher`: dynamic batching (an asyncio queue, one worker thread);
- :mod:`ecgbyte.serve.app`: ``ecgbyte serve`` (:func:`~ecgbyte.serve.app.make_app`,
  :func:`~ecgbyte.serve.app.serve_run`), the HTTP API and the page in ``static/``.

This package sits at the right end of the data flow: it reads runs through
:class:`~ecgbyte.elm.run.RunDir` and never imports the training loop. FastAPI and uvicorn are
imported only inside :mod:`ecgbyte.serve.app` (the ``serve`` extra).
"""
