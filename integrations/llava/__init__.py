"""LLaVA-style MLLMs from any encoder: assemble, swap, projector retraining, export, original-LLaVA interop.

Modules: ``chat`` (the conversation format: chat template + training segments), ``tiny_lm``
(a tokenizer and a tiny Llama made locally), ``assemble`` (encoder + LM -> Llava), ``artifact``
(save/load the mllm artifact), ``swap``, ``data`` + ``train`` (stage 1 / stage 2), ``export``
(+ ``vllm_rules``), ``original`` (the original LLaVA code base's checkpoint layout).
"""
