# ---- rows for tests/fuzz_table.py (paste inside _tree_entries / _shared_entries; add "attention",
# ---- "transformer", "chargpt" to TREE_MODULES and `windows` to SHARED_MODULES)


def _attention_entries(tree: str) -> None:
    At, Tf, Cg = (_mod(tree, m) for m in ("attention", "transformer", "chargpt"))
    is_np = tree == "numpy"

    def g() -> Gen:
        return Gen(tree)

    # attention: x (B=2, T=3, D=4), 2 heads of 2
    add_function(tree, At.gelu_forward, lambda: {"x": g().randn(3, 4)}, "x")

    def gelu_bwd() -> dict[str, Any]:
        return {"dout": g().randn(3, 4), "cache": At.gelu_forward(g().randn(3, 4))[1]}

    add_function(tree, At.gelu_backward, gelu_bwd, "dout")
    add_function(tree, At.causal_mask, lambda: {"queries": 3, "keys": 4}, "queries keys")

    def sdpa_args() -> dict[str, Any]:
        gen = g()
        return {"q": gen.randn(2, 3, 4), "k": gen.randn(2, 5, 4), "v": gen.randn(2, 5, 2), "causal": True}

    add_function(tree, At.scaled_dot_product_attention_forward, sdpa_args, "q k v causal")

    def sdpa_bwd() -> dict[str, Any]:
        _, cache = At.scaled_dot_product_attention_forward(**sdpa_args())
        return {"dout": g().randn(2, 3, 2), "cache": cache}

    add_function(tree, At.scaled_dot_product_attention_backward, sdpa_bwd, "dout")

    def mha_args() -> dict[str, Any]:
        gen = g()
        return {
            "x": gen.randn(2, 3, 4),
            "in_proj_weight": gen.randn(12, 4),
            "in_proj_bias": gen.randn(12),
            "out_proj_weight": gen.randn(4, 4),
            "out_proj_bias": gen.randn(4),
            "num_heads": 2,
            "causal": True,
            "past": (gen.randn(2, 2, 1, 2), gen.randn(2, 2, 1, 2)),
        }

    add_function(
        tree,
        At.multi_head_attention_forward,
        mha_args,
        "x in_proj_weight in_proj_bias out_proj_weight out_proj_bias num_heads causal past",
    )

    def mha_bwd() -> dict[str, Any]:
        _, cache = At.multi_head_attention_forward(**mha_args())
        return {"dout": g().randn(2, 3, 4), "cache": cache}

    add_function(tree, At.multi_head_attention_backward, mha_bwd, "dout")
    add_function(tree, At.normal, lambda: {"rng": rng(), "std": 0.02, "shape": (3, 2)}, "rng std shape")
    add_function(tree, At.sinusoidal_positions, lambda: {"length": 5, "dim": 4}, "length dim")
    add_function(
        tree,
        At.MultiheadAttention,
        lambda: {"embed_dim": 4, "num_heads": 2, "rng": rng(), "causal": True, "out_std": 0.02},
        "embed_dim num_heads rng causal out_std",
    )
    add_method(
        tree, At.MultiheadAttention, "forward", lambda: (At.MultiheadAttention(4, 2, rng()), {"x": g().randn(2, 3, 4)}), "x"
    )

    # transformer: a block of width 4 (2 heads, MLP 8), a character model over V=5 with context 6
    def block_args() -> dict[str, Any]:
        gen = g()
        block = Tf.TransformerBlock(4, 2, rng(), mlp_ratio=2)
        weights = {n: gen.randn(*p.shape) for n, p in block.named_parameters()}
        past = (gen.randn(2, 2, 1, 2), gen.randn(2, 2, 1, 2))
        return {"x": gen.randn(2, 3, 4), "weights": weights, "num_heads": 2, "causal": True, "past": past}

    add_function(tree, Tf.transformer_block_forward, block_args, "x weights num_heads causal past")

    def block_bwd() -> dict[str, Any]:
        _, cache = Tf.transformer_block_forward(**block_args())
        return {"dout": g().randn(2, 3, 4), "cache": cache}

    add_function(tree, Tf.transformer_block_backward, block_bwd, "dout")
    add_function(
        tree,
        Tf.TransformerBlock,
        lambda: {"embed_dim": 4, "num_heads": 2, "rng": rng(), "mlp_ratio": 2, "causal": True, "num_layers": 2},
        "embed_dim num_heads rng mlp_ratio causal num_layers",
    )

    def block_forward() -> tuple[Any, dict[str, Any]]:
        gen = g()
        return Tf.TransformerBlock(4, 2, rng()), {"x": gen.randn(2, 3, 4), "past": (gen.randn(2, 2, 1, 2),) * 2}

    add_method(tree, Tf.TransformerBlock, "forward", block_forward, "x past")

    def char_transformer() -> Any:
        return Tf.CharTransformer(5, 4, rng(), num_heads=2, num_layers=1, context_size=6)

    add_function(
        tree,
        Tf.CharTransformer,
        lambda: {
            "vocab_size": 5,
            "embed_dim": 4,
            "rng": rng(),
            "num_heads": 2,
            "num_layers": 1,
            "context_size": 6,
            "positions": "learned",
            "mlp_ratio": 2,
        },
        "vocab_size embed_dim rng num_heads num_layers context_size positions mlp_ratio",
    )

    def transformer_forward() -> tuple[Any, dict[str, Any]]:
        model = char_transformer()
        _, past = model(Gen("numpy").ints(5, 2, 2))
        return model, {"ids": g().ints(5, 2, 3), "past": past}

    add_method(tree, Tf.CharTransformer, "forward", transformer_forward, "ids past")
    np_ids = Gen("numpy")
    add_method(
        tree, Tf.CharTransformer, "attention_maps", lambda: (char_transformer(), {"ids": np_ids.ints(5, 4)}), "ids"
    )
    add_function(
        tree,
        Cg.evaluate_char_transformer,
        lambda: {"model": char_transformer(), "ids": np_ids.ints(5, 30), "batch_size": 2, "stride": 3},
        "model ids batch_size stride",
    )
    add_function(
        tree,
        Cg.generate,
        lambda: {
            "model": char_transformer(),
            "prompt_ids": np_ids.ints(5, 3),
            "length": 5,
            "temperature": 0.8,
            "rng": rng(),
            "use_cache": True,
        },
        "model prompt_ids length temperature rng use_cache",
    )
    add_function(
        tree,
        Cg.train_char_transformer,
        lambda: {
            "model": char_transformer(),
            "train_ids": np_ids.ints(5, 60),
            "steps": 2,
            "budget_s": 0.2,
            "batch_size": 2,
            "seq_len": 4,
            "lr": 0.01,
            "clip": 1.0,
            "warmup": 1,
            "val_ids": np_ids.ints(5, 20),
            "eval_every": 1,
            "log_every": 1,
            "seed": 0,
            "progress": False,
        },
        "model train_ids steps budget_s batch_size seq_len lr clip warmup val_ids eval_every log_every seed progress",
        skip={"steps": LOOP_COUNT},
    )
    if is_np:

        def forwarded(layer: Any, *args: Any) -> Any:
            layer.forward(*args)
            return layer

        add_method(
            tree,
            At.MultiheadAttention,
            "backward",
            lambda: (forwarded(At.MultiheadAttention(4, 2, rng()), g().randn(2, 3, 4)), {"dout": g().randn(2, 3, 4)}),
            "dout",
        )
        add_method(
            tree,
            Tf.TransformerBlock,
            "backward",
            lambda: (forwarded(Tf.TransformerBlock(4, 2, rng()), g().randn(2, 3, 4)), {"dout": g().randn(2, 3, 4)}),
            "dout",
        )
        add_method(
            tree,
            Tf.CharTransformer,
            "backward",
            lambda: (forwarded(char_transformer(), np_ids.ints(5, 2, 3)), {"dlogits": g().randn(2, 3, 5)}),
            "dlogits",
        )


def _window_entries() -> None:  # in _shared_entries (tree = "shared", gen = Gen("numpy"))
    tree, gen = "shared", Gen("numpy")
    add_function(
        tree,
        windows.evaluation_windows,
        lambda: {"ids": gen.ints(5, 30), "context_size": 8, "stride": 3},
        "ids context_size stride",
    )
    add_function(tree, windows.window_start, lambda: {"start": 2, "end": 12, "context_size": 8}, "start end context_size")

    def sampler() -> dict[str, Any]:
        def next_logits(ids: np.ndarray, past: Any) -> tuple[np.ndarray, Any]:
            return np.arange(5.0), None

        return {
            "next_logits": next_logits,
            "prompt_ids": gen.ints(5, 3),
            "length": 4,
            "context_size": 4,
            "temperature": 0.8,
            "rng": rng(),
            "use_cache": True,
        }

    add_function(
        tree,
        windows.sample_text,
        sampler,
        "next_logits prompt_ids length context_size temperature rng use_cache",
        skip={"length": LOOP_COUNT},
    )
