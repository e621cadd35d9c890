"""openeyes.training: enhance CLIP-style encoders with the objectives of the source papers."""
