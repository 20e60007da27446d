"""The DALI preprocessing pipeline, free of Ray so a reference Triton server can run the same one."""

from nvidia.dali import fn, pipeline_def, types


def build_pipeline(size: int, mean: list[float], std: list[float], use_gpu: bool, max_batch: int,
                   num_threads: int = 1):
    """A DALI pipeline fed encoded bytes through `feed_input("encoded", ...)`, yielding CHW float32.
    `num_threads` are DALI's CPU workers (decoding on CPU, the host part of `mixed` on a GPU)."""

    # feed_input needs prefetch_queue_depth=1; the CPU build requires device_id=None.
    @pipeline_def(batch_size=max_batch, num_threads=num_threads, device_id=0 if use_gpu else None,
                  prefetch_queue_depth=1, exec_dynamic=True)
    def pipeline():
        encoded = fn.external_source(name="encoded", dtype=types.UINT8)
        images = fn.decoders.image(encoded, device="mixed" if use_gpu else "cpu", output_type=types.RGB)
        images = fn.resize(images, resize_x=size, resize_y=size)
        return fn.crop_mirror_normalize(
            images, dtype=types.FLOAT, output_layout="CHW",
            mean=[m * 255 for m in mean], std=[s * 255 for s in std],
        )

    built = pipeline()
    built.build()
    return built
