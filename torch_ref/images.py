"""Images on a device, read a mini-batch or a chunk of rows at a time."""
import numpy as np
import torch


class Images:
    """The rows of `data` (n, n_0) on `device` as `dtype` tensors. Float data is used as it is;
    uint8 pixels stay uint8 on the device (a quarter of float32's memory) and are divided by 255
    as their rows are read, which gives the numbers of the scaled array exactly."""

    def __init__(self, data: np.ndarray, dtype: str, device: torch.device | str = "cpu"):
        self.dtype = getattr(torch, dtype)
        self.data = torch.from_numpy(np.ascontiguousarray(data)).to(device)
        if self.data.dtype != torch.uint8 and self.data.dtype != self.dtype:
            raise ValueError(f"images of dtype {data.dtype} given for {dtype} runs; give uint8 pixels or {dtype}")
        # a 0-dim tensor, not the number: CUDA divides by a number as a product with its reciprocal
        self.scale = torch.tensor(255, dtype=self.dtype, device=device) if self.data.dtype == torch.uint8 else None

    def __len__(self) -> int:
        return len(self.data)

    def scaled(self, rows: torch.Tensor) -> torch.Tensor:
        return rows if self.scale is None else rows.to(self.dtype).div_(self.scale)

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """The rows at `index` (a mini-batch)."""
        return self.scaled(self.data.index_select(0, index))

    def chunks(self, size: int):
        """(start, rows) for consecutive runs of `size` rows."""
        for start in range(0, len(self.data), size):
            yield start, self.scaled(self.data[start:start + size])


def as_images(x, device: torch.device | str) -> Images:
    """x as Images: Images as they are (made on `device` by the caller), a float array put on `device`."""
    return x if isinstance(x, Images) else Images(np.asarray(x), np.asarray(x).dtype.name, device)


def one_hot(labels: np.ndarray, dtype: torch.dtype, device) -> torch.Tensor:
    """(m,) integer labels -> (m, 10) rows of the identity, on `device`."""
    return torch.nn.functional.one_hot(torch.from_numpy(labels).long(), 10).to(device=device, dtype=dtype)


def epoch_index(batches: list[np.ndarray], device) -> list[torch.Tensor]:
    """An epoch's mini-batches (numpy index arrays) as index tensors on `device`, moved in one copy."""
    order = torch.from_numpy(np.concatenate(batches)).to(device)
    return list(order.split([len(b) for b in batches]))
