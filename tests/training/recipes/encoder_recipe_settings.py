"""Overrides that make `openeyes train encoder` runs tiny and fast in tests."""

TINY = [
    "init.tiny={image_size: 32, patch_size: 8, vision_width: 32, vision_layers: 1, vision_heads: 2,"
    " vision_mlp: 64, text_width: 32, text_layers: 1, text_heads: 2, embed_dim: 16}",
    "init.tokenizer_corpus=300", "init.tokenizer_vocab=300",
    "trainer.steps=3", "trainer.batch_size=8", "trainer.log_every=1", "trainer.checkpoint_every=0",
    "trainer.progress_bar=false", "optim.lr=1e-2",
]
