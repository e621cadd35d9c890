"""lm-evaluation-harness integration: the ``openeyes`` model and the ``openeyes_*`` tasks.

- ``model``: ``OpenEyesLM``, registered as ``openeyes`` (``MULTIMODAL = True``): any openeyes
  ``MLLM`` (local transformers directory / artifact / zoo:NAME, or an OpenAI-compatible URL)
  answering ``generate_until`` requests with the task's images.
- ``openeyes_{mmvp,pope,cv_bench,naturalbench}.yaml`` (package data, this folder): tasks over
  local JSONL (``dataset_path: json``) that ``convert`` writes from a benchmark's real layout
  (id, prompt, image paths, gold); ``task_utils`` scores them with the SAME scorers as
  ``openeyes eval mllm`` (``eval_mllm.mllm``), so the numbers agree.
- ``run``: ``run_lm_eval`` behind ``openeyes eval lm-eval`` (``lm_eval.simple_evaluate``
  offline, ``TaskManager(include_path=<this folder>, include_defaults=False)``).

Only ``run`` and ``model`` import lm_eval (installed with the ``eval`` extra).
"""
