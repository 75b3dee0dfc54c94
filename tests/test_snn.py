"""bench.align.snn: soft nearest neighbour and cycle-back against loop-based references."""
import math

import pytest
import torch

from bench.align.snn import cycle_back_logits, similarity_logits, soft_nearest_neighbour


def loop_snn(u, v, tau):
    """alpha_ij = softmax_j(-||u_i - v_j||^2 / (D tau)), v~_i = sum_j alpha_ij v_j, by loops."""
    d = u.shape[1]
    alphas, tildes = [], []
    for i in range(u.shape[0]):
        logits = torch.stack([-((u[i] - v[j]) ** 2).sum() / (d * tau) for j in range(v.shape[0])])
        alpha = torch.exp(logits - logits.max())
        alpha = alpha / alpha.sum()
        alphas.append(alpha)
        tildes.append(sum(alpha[j] * v[j] for j in range(v.shape[0])))
    return torch.stack(tildes), torch.stack(alphas)


def loop_cycle_logits(u, v, tau):
    v_tilde, _ = loop_snn(u, v, tau)
    d = u.shape[1]
    return torch.stack([torch.stack([-((v_tilde[i] - u[k]) ** 2).sum() / (d * tau) for k in range(u.shape[0])])
                        for i in range(u.shape[0])])


@pytest.mark.parametrize("n,m,d,tau", [(2, 3, 2, 0.1), (4, 4, 3, 0.5), (5, 2, 4, 1.0)])
def test_soft_nearest_neighbour_and_cycle_back_match_loops(n, m, d, tau):
    g = torch.Generator().manual_seed(7 + n + m + d)
    u = torch.randn(n, d, generator=g, dtype=torch.float64)
    v = torch.randn(m, d, generator=g, dtype=torch.float64)
    v_tilde, alpha = soft_nearest_neighbour(u[None], v[None], tau)
    ref_tilde, ref_alpha = loop_snn(u, v, tau)
    torch.testing.assert_close(alpha[0], ref_alpha)
    torch.testing.assert_close(v_tilde[0], ref_tilde)
    torch.testing.assert_close(cycle_back_logits(u[None], v[None], tau)[0], loop_cycle_logits(u, v, tau))


def test_hand_computed_case():
    # u = v = [[0], [1]] (D = 1), tau = 1: alpha_0 = softmax([0, -1]) = [e/(1+e), 1/(1+e)],
    # so v~_0 = 1/(1+e) = 0.26894; symmetrically alpha_1 = [1/(1+e), e/(1+e)], v~_1 = e/(1+e).
    # Cycle-back logits of row 0: -(v~_0 - 0)^2 = -0.072329 and -(v~_0 - 1)^2 = -0.534447.
    u = torch.tensor([[[0.0], [1.0]]], dtype=torch.float64)
    v_tilde, alpha = soft_nearest_neighbour(u, u, 1.0)
    a = 1.0 / (1.0 + math.e)
    torch.testing.assert_close(alpha[0], torch.tensor([[1 - a, a], [a, 1 - a]], dtype=torch.float64))
    torch.testing.assert_close(v_tilde[0, :, 0], torch.tensor([a, 1 - a], dtype=torch.float64))
    logits = cycle_back_logits(u, u, 1.0)[0]
    torch.testing.assert_close(logits[0], torch.tensor([-a * a, -(1 - a) ** 2], dtype=torch.float64))


def test_dimension_and_temperature_scaling():
    x = torch.tensor([[[0.0, 0.0, 0.0]]])
    y = torch.tensor([[[1.0, 1.0, 1.0]]])
    # ||x - y||^2 = 3, D = 3, tau = 0.5: logit = -3 / (3 * 0.5) = -2.
    assert similarity_logits(x, y, 0.5).item() == pytest.approx(-2.0)


def test_masked_keys_equal_truncated_sequences():
    g = torch.Generator().manual_seed(3)
    u = torch.randn(1, 4, 3, generator=g, dtype=torch.float64)
    v = torch.randn(1, 3, 3, generator=g, dtype=torch.float64)
    u_pad = torch.cat([u, 100 * torch.randn(1, 2, 3, generator=g, dtype=torch.float64)], 1)
    v_pad = torch.cat([v, 100 * torch.randn(1, 3, 3, generator=g, dtype=torch.float64)], 1)
    u_mask = torch.tensor([[True] * 4 + [False] * 2])
    v_mask = torch.tensor([[True] * 3 + [False] * 3])
    v_tilde, alpha = soft_nearest_neighbour(u_pad, v_pad, 0.3, v_mask)
    ref_tilde, ref_alpha = soft_nearest_neighbour(u, v, 0.3)
    torch.testing.assert_close(v_tilde[:, :4], ref_tilde)
    torch.testing.assert_close(alpha[:, :4, :3], ref_alpha)
    assert torch.all(alpha[:, :, 3:] == 0)
    logits = cycle_back_logits(u_pad, v_pad, 0.3, u_mask, v_mask)
    torch.testing.assert_close(logits[:, :4, :4], cycle_back_logits(u, v, 0.3))
    assert torch.all(logits[:, :, 4:] == float("-inf"))


def test_batch_of_pairs_is_pairwise_independent():
    g = torch.Generator().manual_seed(11)
    u = torch.randn(3, 4, 2, generator=g, dtype=torch.float64)
    v = torch.randn(3, 5, 2, generator=g, dtype=torch.float64)
    batched = cycle_back_logits(u, v, 0.2)
    for b in range(3):
        torch.testing.assert_close(batched[b], loop_cycle_logits(u[b], v[b], 0.2))


def test_gradcheck_cycle_back():
    g = torch.Generator().manual_seed(5)
    u = torch.randn(2, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 4, 2, generator=g, dtype=torch.float64, requires_grad=True)
    v_mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    assert torch.autograd.gradcheck(
        lambda a, b: torch.log_softmax(cycle_back_logits(a, b, 0.5, v_mask=v_mask), -1), (u, v))
