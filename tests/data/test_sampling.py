"""foodclf.data.sampling: each epoch's order and augmentation come from (seed, epoch, image)."""
import torch
from torch.utils.data import Dataset

from foodclf.data.sampling import EpochSeededDataset, EpochShuffleSampler


class Noisy(Dataset):
    """Item i is (i, a random draw), as an augmenting transform would draw."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return i, torch.rand(1).item()


def epoch_items(epoch: int, seed: int = 3, world: int = 1, rank: int = 0) -> list:
    sampler = EpochShuffleSampler(Noisy(), world, rank, seed)
    sampler.set_epoch(epoch)
    dataset = EpochSeededDataset(Noisy(), seed)
    return [dataset[key] for key in sampler]


def test_an_epoch_is_the_same_whatever_ran_before_it():
    expected = epoch_items(4)
    torch.manual_seed(123)
    torch.rand(1000)  # another history of the global generator
    assert epoch_items(4) == expected


def test_epochs_differ_and_each_holds_every_image_once():
    first, second = epoch_items(0), epoch_items(1)
    assert sorted(i for i, _ in first) == sorted(i for i, _ in second) == list(range(10))
    assert [i for i, _ in first] != [i for i, _ in second]
    assert {i: r for i, r in first} != {i: r for i, r in second}  # new augmentation draws too


def test_ranks_share_one_permutation_without_overlap():
    shards = [epoch_items(2, world=2, rank=r) for r in (0, 1)]
    assert sorted(i for shard in shards for i, _ in shard) == list(range(10))
