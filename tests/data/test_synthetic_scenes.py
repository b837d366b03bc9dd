"""The procedural renderer against closed forms: a sphere's, a box's and a cylinder's depth and
normals at known pixels, the floor/back-wall boundary row, contours exactly at instance
boundaries; random scenes are deterministic given a seed, every ray meets a surface that faces
it, and grey renders are the colour ones' luma."""

import math

import numpy as np
import pytest
import torch

from ssrl.data.ray_casting import BOX, CYLINDER, PLANE, SPHERE
from ssrl.data.synthetic_scenes import (GREY, ProceduralScenes, SceneConfig, Scenes, instance_contours, render, rotation,
                                        sample_scenes)

SIDE = 33  # odd: the centre pixel's ray is the optical axis


def _scene(kinds, centers, sizes, rotations=None, focal=1.0) -> Scenes:
    """One scene of the given primitives (textures and light fixed), camera frame."""
    p = len(kinds)
    rot = torch.eye(3).expand(1, p, 3, 3).clone() if rotations is None else torch.stack(rotations)[None]
    return Scenes(focal=torch.tensor([focal]), kind=torch.tensor(kinds), center=torch.tensor([centers], dtype=torch.float32),
                  rotation=rot, size=torch.tensor([sizes], dtype=torch.float32), active=torch.ones(1, p, dtype=torch.bool),
                  texture=torch.zeros(1, p, dtype=torch.long), crop=torch.tensor([[[10.0, 10.0, 32.0]] * p]),
                  tile=torch.ones(1, p), tint=torch.ones(1, p, 3), light=torch.tensor([[0.0, 0.0, -1.0]]),
                  ambient=torch.tensor([0.2]))


def _rays(side=SIDE, focal=1.0) -> np.ndarray:
    """(side, side, 3) float64 ray directions (u, v, 1) through the pixel centres; focal in image widths."""
    f = focal * side
    c = (np.arange(side) + 0.5 - side / 2) / f
    u, v = np.meshgrid(c, c)
    return np.stack([u, v, np.ones_like(u)], -1)


def test_a_sphere_has_its_closed_form_depth_normals_and_silhouette():
    c, r = np.array([0.3, -0.2, 5.0]), 1.2
    out = render(_scene([SPHERE], [c.tolist()], [[r, r, r]]), SIDE, SIDE)
    d = _rays()
    # |t d − c|² = r²: the nearer root, where the discriminant is positive (the ray passes within r of c)
    a, b, cc = (d * d).sum(-1), (d * c).sum(-1), c @ c - r * r
    disc = b * b - a * cc
    inside = disc > 0
    t = (b - np.sqrt(np.where(inside, disc, 0))) / a
    assert np.array_equal(out.ids[0, 0].numpy() == 0, inside) and (out.ids[0, 0][~torch.from_numpy(inside)] == -1).all()
    np.testing.assert_allclose(out.depth[0, 0].numpy()[inside], t[inside], rtol=1e-5)
    normal = (t[..., None] * d - c) / r
    np.testing.assert_allclose(out.normals[0].permute(1, 2, 0).numpy()[inside], normal[inside], atol=1e-4)
    centre = SIDE // 2
    # the ray nearest the centre's direction: analytic depth on the optical axis of a centred sphere
    axis = render(_scene([SPHERE], [[0.0, 0.0, 5.0]], [[1.0, 1.0, 1.0]]), SIDE, SIDE)
    assert axis.depth[0, 0, centre, centre].item() == pytest.approx(4.0, rel=1e-6)
    torch.testing.assert_close(axis.normals[0, :, centre, centre], torch.tensor([0.0, 0.0, -1.0]))


def test_a_box_face_and_a_cylinder_side_and_cap_at_the_axis():
    centre = SIDE // 2
    box = render(_scene([BOX], [[0.0, 0.0, 5.0]], [[1.0, 0.5, 1.0]]), SIDE, SIDE)
    front = box.ids[0, 0] == 0
    # the front face z = 4 is all the camera sees of an axis-aligned box ahead: |x|, |y| within the half extents
    d = _rays()
    expected = (np.abs(4 * d[..., 0]) <= 1.0) & (np.abs(4 * d[..., 1]) <= 0.5)
    assert np.array_equal(front.numpy(), expected)
    torch.testing.assert_close(box.depth[0, 0][front], torch.full((int(front.sum()),), 4.0))
    assert torch.equal(box.normals[0][:, front], torch.tensor([0.0, 0.0, -1.0])[:, None].expand(3, int(front.sum())))
    upright = render(_scene([CYLINDER], [[0.0, 0.0, 5.0]], [[1.0, 2.0, 1.0]]), SIDE, SIDE)
    assert upright.depth[0, 0, centre, centre].item() == pytest.approx(4.0, rel=1e-6)       # the side, facing us
    torch.testing.assert_close(upright.normals[0, :, centre, centre], torch.tensor([0.0, 0.0, -1.0]))
    # lying along the optical axis (local y → camera z): its cap at z = 5 − 1.5 faces the camera, a disc of radius 1
    along = rotation(torch.tensor(0.0), torch.tensor(math.pi / 2), torch.tensor(0.0))
    lying = render(_scene([CYLINDER], [[0.0, 0.0, 5.0]], [[1.0, 1.5, 1.0]], [along]), SIDE, SIDE)
    cap = (3.5 * d[..., 0]) ** 2 + (3.5 * d[..., 1]) ** 2 <= 1.0
    assert np.array_equal((lying.ids[0, 0] == 0).numpy(), cap)
    np.testing.assert_allclose(lying.depth[0, 0].numpy()[cap], 3.5, rtol=1e-6)
    np.testing.assert_allclose(lying.normals[0].permute(1, 2, 0).numpy()[cap], np.array([0.0, 0.0, -1.0])[None]
                               .repeat(cap.sum(), 0), atol=1e-6)


def test_the_floor_meets_the_back_wall_on_the_row_the_horizon_predicts():
    h, depth = 1.5, 6.0
    floor = torch.tensor([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]]).T  # columns: local axes, y the normal (up)
    wall = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]).T
    out = render(_scene([PLANE, PLANE], [[0.0, h, 0.0], [0.0, 0.0, depth]], [[1, 1, 1]] * 2, [floor, wall]), SIDE, SIDE)
    v = _rays()[..., 1]
    on_floor = v > h / depth  # the floor is nearer than the wall below the horizon of their meeting line
    assert np.array_equal((out.ids[0, 0] == 0).numpy(), on_floor) and (out.ids[0, 0][~torch.from_numpy(on_floor)] == 1).all()
    np.testing.assert_allclose(out.depth[0, 0].numpy(), np.where(on_floor, h / np.where(on_floor, v, 1), depth), rtol=1e-5)
    boundary = np.zeros((SIDE, SIDE), bool)
    row = int(on_floor[:, 0].argmax())  # the first floor row
    boundary[row - 1:row + 1] = True    # the last wall row and the first floor row
    assert np.array_equal(out.contours[0, 0].numpy() == 1, boundary)


def _contours_by_loop(ids: np.ndarray) -> np.ndarray:
    h, w = ids.shape
    out = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            for di, dj in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                if 0 <= i + di < h and 0 <= j + dj < w and ids[i + di, j + dj] != ids[i, j]:
                    out[i, j] = True
    return out


def test_contours_are_exactly_the_pixels_beside_another_instance():
    ids = torch.randint(0, 3, (2, 1, 9, 7), generator=torch.Generator().manual_seed(0))
    contours = instance_contours(ids)
    for b in range(2):
        assert np.array_equal(contours[b, 0].numpy() == 1, _contours_by_loop(ids[b, 0].numpy()))
    assert not instance_contours(torch.zeros(1, 1, 5, 5, dtype=torch.long)).any()
    scenes = ProceduralScenes().sample(3, (24, 24), generator=torch.Generator().manual_seed(1))
    for b in range(3):
        assert np.array_equal(scenes.contours[b, 0].numpy() == 1, _contours_by_loop(scenes.ids[b, 0].numpy()))


def test_random_scenes_are_deterministic_given_the_seed_and_differ_across_seeds():
    source = ProceduralScenes()
    a, b = (source.sample(4, (16, 20), generator=torch.Generator().manual_seed(7)) for _ in range(2))
    for key in ("image", "depth", "normals", "ids", "contours"):
        assert torch.equal(getattr(a, key), getattr(b, key))
    assert a.image.shape == (4, 3, 16, 20) and a.depth.shape == (4, 1, 16, 20)
    other = source.sample(4, (16, 20), generator=torch.Generator().manual_seed(8))
    assert not torch.equal(a.image, other.image)
    torch.manual_seed(3)
    first = source.sample(2, (8, 8))
    torch.manual_seed(3)
    assert torch.equal(first.image, source.sample(2, (8, 8)).image)  # the global RNG, when no generator


def test_every_ray_meets_a_surface_facing_it_and_objects_are_in_view():
    out = ProceduralScenes().sample(32, (24, 24), generator=torch.Generator().manual_seed(0))
    assert (out.ids >= 0).all() and out.valid.all() and (out.depth > 0).all() and out.depth.isfinite().all()
    torch.testing.assert_close(out.normals.norm(dim=1), torch.ones(32, 24, 24))
    assert 0 <= out.image.min() and out.image.max() <= 1
    # facing: n · d < 0 for the ray d through each pixel (scene focal lengths vary, the sign does not need them)
    scenes = sample_scenes(32, SceneConfig(), torch.Generator().manual_seed(0))
    for b in range(4):
        d = torch.from_numpy(_rays(24, scenes.focal[b].item())).float().permute(2, 0, 1)
        assert ((out.normals[b] * d).sum(0) < 0).all()
    objects = (out.ids >= 5).flatten(1).any(1)
    assert objects.float().mean() > 0.8  # objects are placed inside the view


def test_crops_of_another_texture_bank_lie_inside_it():
    scenes = sample_scenes(64, SceneConfig(), torch.Generator().manual_seed(0), bank=(5, 28, 20))
    left, top, side = scenes.crop.unbind(-1)
    assert (left >= 0).all() and (top >= 0).all() and (side > 0).all()
    assert (left + side <= 18).all() and (top + side <= 26).all() and (scenes.texture < 5).all()
    bank = torch.rand(5, 1, 28, 20)
    out = ProceduralScenes().sample(4, (12, 12), 1, generator=torch.Generator().manual_seed(0), textures=bank)
    assert out.image.shape == (4, 1, 12, 12) and 0 <= out.image.min() and out.image.max() <= 1


def test_without_the_room_the_objects_stand_on_black_and_the_rest_has_no_truth():
    out = ProceduralScenes(SceneConfig(room=False)).sample(32, (24, 24), generator=torch.Generator().manual_seed(0))
    room = ProceduralScenes().sample(32, (24, 24), generator=torch.Generator().manual_seed(0))
    miss = out.ids < 0
    assert miss.any() and (out.ids >= 0).any() and torch.equal(out.valid, ~miss)
    assert (out.image * miss == 0).all() and (out.depth[miss] == 1).all() and (out.normals * miss == 0).all()
    objects = room.ids >= 5  # the same draws: where the room shows an object, so does the empty scene
    assert torch.equal(out.ids[objects], room.ids[objects]) and torch.equal(out.image * objects, room.image * objects)


def test_grey_renders_are_the_luma_of_the_colour_ones():
    source = ProceduralScenes()
    rgb = source.sample(3, (12, 12), 3, generator=torch.Generator().manual_seed(2)).image
    grey = source.sample(3, (12, 12), 1, generator=torch.Generator().manual_seed(2)).image
    assert grey.shape == (3, 1, 12, 12)
    torch.testing.assert_close(grey[:, 0], sum(w * rgb[:, c] for c, w in enumerate(GREY)))


def test_lambertian_shading_follows_the_cosine_to_the_light():
    """A wall facing the camera, lit head-on then at 60°: the image scales by ambient + (1 − ambient)·cos."""
    wall = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]).T
    scene = _scene([PLANE], [[0.0, 0.0, 4.0]], [[1, 1, 1]], [wall])
    head_on = render(scene, 8, 8).image
    scene.light = torch.tensor([[0.0, -math.sin(math.pi / 3), -math.cos(math.pi / 3)]])
    slanted = render(scene, 8, 8).image
    torch.testing.assert_close(slanted, head_on * (0.2 + 0.8 * 0.5), rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
def test_scenes_render_on_the_gpu_as_on_the_cpu():
    scenes = sample_scenes(8, SceneConfig(), torch.Generator().manual_seed(0))
    cpu, gpu = render(scenes, 32, 32), render(scenes.to("cuda"), 32, 32)
    assert gpu.image.device.type == "cuda"
    assert (cpu.ids == gpu.ids.cpu()).float().mean() > 0.999  # a ray grazing an edge may round the other way
    same = cpu.ids == gpu.ids.cpu()
    torch.testing.assert_close(gpu.depth.cpu()[same], cpu.depth[same], rtol=1e-4, atol=1e-4)
