"""LoRA adapters: training (``lora.train``), adapter files, merge maths, routing."""
