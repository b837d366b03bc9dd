import torch

from ssrl.components.queue import EmbeddingQueue


def test_push_fills_then_overwrites_oldest_first():
    q = EmbeddingQueue(size=5, dim=1)
    assert q.get().shape == (0, 1)
    q.push(torch.tensor([[1.0], [2.0], [3.0]]))
    assert q.get().flatten().tolist() == [1.0, 2.0, 3.0]
    q.push(torch.tensor([[4.0], [5.0], [6.0]]))
    assert sorted(q.get().flatten().tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]  # 1 was the oldest
    q.push(torch.arange(7.0, 14.0).unsqueeze(1))  # more than fits: the last 5 stay
    assert sorted(q.get().flatten().tolist()) == [9.0, 10.0, 11.0, 12.0, 13.0]


def test_queue_is_in_the_state_dict_and_takes_no_gradient():
    q = EmbeddingQueue(size=4, dim=2)
    z = torch.randn(3, 2, requires_grad=True)
    q.push(z)
    assert not q.get().requires_grad
    state = q.state_dict()
    assert set(state) == {"items", "next", "count"}
    restored = EmbeddingQueue(size=4, dim=2)
    restored.load_state_dict(state)
    assert torch.equal(restored.get(), q.get())
