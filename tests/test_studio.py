"""The fusion studio (studio.py): its callbacks on the :test model, the even-step
calibration, and the page itself driven in headless Chromium.

    STUDIO_SCREENSHOT=docs/studio.png STUDIO_MODEL=runs/quickstart \
        python -m pytest -q tests/test_studio.py -k browser -p no:cacheprovider

also saves the page's screenshot for the README (STUDIO_MODEL: another model to show
instead of the :test one).
"""
import os
import shutil
import socket

import cv2
import numpy as np
import pytest

import painting
import studio
from painting import calibration as calibration_lib
from storage import atomic, workdir as workdir_lib
from tests.helpers import make_codes_matter, write_image
from tests.test_hostile_inputs import huge_png

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def studio_model(trained_run, tmp_path_factory):
    """A Studio on a copy of the shared run (its calibration is stored in the export),
    with code heads that make styles differ, calibrated on one small photo."""
    workdir = str(tmp_path_factory.mktemp("studio") / "run")
    shutil.copytree(trained_run.workdir, workdir)
    painter = painting.load(workdir)
    make_codes_matter(painter.generator, seed=3, stddev=0.5)
    calibration = calibration_lib.Calibrator(painter, count=1, size=32).calibrate(
        calibration_lib.export_sha256(workdir))
    # The 3-step model barely moves along a path: a known S-shaped curve for the first
    # pair makes the even weights visibly differ from the sliders.
    values = calibration_lib.VALUES
    calibration.pair_positions[calibration_lib.pair_key(*painter.names[:2])] = (
        3 * values ** 2 - 2 * values ** 3).tolist()
    calibration_lib.store_calibration(workdir, calibration)
    return studio.Studio(painter, workdir)


def _settings(studio_model, **changes):
    names = list(studio_model.painter.names[:2]) + [None, None]
    base = studio.Settings(names=names, uploads=[None] * 4, weights=[30, 70, 50, 50])
    return studio.dataclasses.replace(base, **changes)


def _photo(seed=0, height=40, width=56):
    rng = np.random.default_rng(seed)
    return rng.random((height, width, 3)).astype(np.float32)


def test_calibration_inverts_a_measured_curve():
    # t(v) = v^2: the slider u must give v = sqrt(u).
    curve = (calibration_lib.VALUES ** 2).tolist()
    calibration = painting.Calibration(weight_position=curve, strength_position=curve)
    assert calibration.even_share(0.25, "a", "b") == pytest.approx(0.5, abs=0.02)
    assert calibration.even_strength(0.64) == pytest.approx(0.8, abs=0.01)
    weights = calibration.even_weights([1.0, 3.0], ["a", "b"])
    assert weights.sum() == pytest.approx(1.0)
    flat = painting.Calibration(weight_position=[0.0] * 11)
    # A model whose codes do not matter.
    assert flat.even_share(0.3, "a", "b") == pytest.approx(0.3)


def test_calibration_uses_the_curves_of_the_styles_in_use():
    values = calibration_lib.VALUES
    calibration = painting.Calibration(
        weight_position=values.tolist(), strength_position=values.tolist(),
        pair_positions={"a|b": (values ** 2).tolist(), "a|c": (values ** 4).tolist(),
                        "b|c": values.tolist()},
        style_positions={"a": (values ** 2).tolist()})
    # The pair's curve runs from a (its first name in sorted order) to b.
    assert calibration.even_share(0.25, "a", "b") == pytest.approx(0.5, abs=0.02)
    assert calibration.even_share(0.75, "b", "a") == pytest.approx(0.5, abs=0.02)
    assert calibration.even_share(0.25, "a", "d") == pytest.approx(0.25)  # fallback
    # Two styles in either order give the same fusion.
    np.testing.assert_allclose(calibration.even_weights([0.75, 0.25], ["a", "b"]),
                               [0.5, 0.5], atol=0.02)
    np.testing.assert_allclose(calibration.even_weights([0.25, 0.75], ["b", "a"]),
                               [0.5, 0.5], atol=0.02)
    three = np.mean([c for curve in (values ** 2, values ** 4, values)
                     for c in (curve, 1 - curve[::-1])], axis=0)
    np.testing.assert_allclose(calibration.symmetric_weight_curve(["c", "b", "a"]), three)
    assert calibration.even_strength(0.64, ["a"]) == pytest.approx(0.8, abs=0.01)
    assert calibration.even_strength(0.64, ["a", "b"]) == pytest.approx(0.64)
    styles, strength = calibration.apply(["a:0.75", "b:0.25"], 0.64)
    assert [name for name, _ in styles] == ["a", "b"]
    assert styles[1][1] == pytest.approx(0.5, abs=0.02)
    assert strength == pytest.approx(0.64)  # b has no strength curve: the fallback
    bank = ["a", "b", "c", "d"]
    assert calibration.missing(["d", "a", "b"], bank, True) == (
        [("a", "d"), ("b", "d")], ["d", "b"])
    assert calibration.missing(["a", "b"], bank, False) == ([], [])
    # A style image has no bank code to calibrate: the fallback curves apply.
    assert calibration.missing(["a", "painting.jpg"], bank, True) == ([], [])


def test_a_pairs_curve_is_measured_on_first_use_and_stored(studio_model):
    painter = studio_model.painter
    a, b = painter.names[:2]
    calibration = painter.calibration()
    measured = calibration.pair_positions.pop(calibration_lib.pair_key(a, b))
    assert calibration.even_share(0.3, a, b) == pytest.approx(
        calibration.even_share(0.3, "unmeasured", "pair"))  # the fallback
    assert painter.calibration([b, a]) is calibration
    remeasured = calibration.pair_positions[calibration_lib.pair_key(a, b)]
    assert len(remeasured) == len(calibration_lib.VALUES)
    assert remeasured != measured  # measured again on the run's own photos and size
    stored = calibration_lib.read_calibration(studio_model.model_path)
    assert stored.pair_positions[calibration_lib.pair_key(a, b)] == remeasured
    calibration.pair_positions[calibration_lib.pair_key(a, b)] = measured
    calibration_lib.store_calibration(studio_model.model_path, calibration)


def test_calibration_is_stored_for_its_generator(studio_model):
    stored = calibration_lib.read_calibration(studio_model.model_path)
    assert stored is not None and stored.photos
    assert len(stored.weight_position) == len(calibration_lib.VALUES)
    # The map covers the whole slider, ends to ends, without going back.
    mapped = [stored.even_share(u, *studio_model.painter.names[:2])
              for u in calibration_lib.VALUES]
    assert mapped[0] == pytest.approx(0.0, abs=1e-6)
    assert mapped[-1] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(mapped) >= 0)
    export_dir = workdir_lib.export_dir(studio_model.model_path)
    with open(os.path.join(export_dir, workdir_lib.GENERATOR_FILE), "ab") as f:
        f.write(b"\0")  # another generator: the stored curves no longer apply
    try:
        assert calibration_lib.read_calibration(studio_model.model_path) is None
    finally:
        with open(os.path.join(export_dir, workdir_lib.GENERATOR_FILE), "rb+") as f:
            f.truncate(os.path.getsize(f.name) - 1)


def test_weights_to_code(studio_model):
    settings = _settings(studio_model)
    even = studio_model.plan(settings)
    calibration = studio_model.painter.calibration()
    np.testing.assert_allclose(
        even.weights, calibration.even_weights([0.3, 0.7], settings.names[:2]), atol=1e-6)
    assert not np.allclose(even.weights, [0.3, 0.7], atol=0.01)
    plain = studio_model.plan(_settings(studio_model, even_steps=False))
    np.testing.assert_allclose(plain.weights, [0.3, 0.7], atol=1e-6)
    codes = studio_model.painter.source.codes[:2]
    code_map = plain.fields(_photo(), studio_model.painter.source)[0].code_map()
    np.testing.assert_allclose(np.asarray(code_map)[0, 0, 0], 0.3 * codes[0] + 0.7 * codes[1],
                               atol=1e-5)
    assert studio.weights_label(settings).endswith("30% · " +
                                                   f"{settings.names[1]} 70%")


def test_painted_mask_to_mask_field(studio_model):
    strokes = [np.zeros((20, 28), np.float32), None, None, None]
    strokes[0][:, :10] = 1.0   # style 1 brushed on the left
    right = np.zeros((20, 28), np.float32)
    right[:, 18:] = 1.0        # style 2 on the right
    strokes[1] = right
    plan = studio_model.plan(_settings(studio_model, mask_mode="painted", strokes=strokes))
    coarse, _ = plan.fields(_photo(height=40, width=56), studio_model.painter.source)
    weights = coarse.weights  # [h, w, 2] at 1/STRIDE of the photo
    assert weights.shape[-1] == 2
    assert weights[:, 0, 0].min() > 0.95 and weights[:, -1, 1].min() > 0.95
    np.testing.assert_allclose(weights[:, weights.shape[1] // 2], 0.5, atol=0.05)


@pytest.mark.parametrize("change, phrase", [
    ({"mask_mode": "left/right", "names": ["a", "b", "c", None]}, "exactly two"),
    ({"weights": [0, 0, 50, 50]}, "weight"),
    ({"mask_mode": "painted", "strokes": [None] * 4}, "no stroke"),
    ({"layer_fusion": True, "coarse_style": None}, "Layer fusion needs"),
    ({"names": [None] * 4}, "No style chosen"),
])
def test_impossible_settings_are_messages(studio_model, change, phrase):
    names = studio_model.painter.names
    if "names" in change and change["names"][0] == "a":
        change["names"] = [names[0], names[1], names[0], None]
    result, message = studio._guarded(
        lambda: studio_model.preview(_photo(), _settings(studio_model, **change)))
    assert result is None and phrase in message
    assert len(message) <= studio.MAX_MESSAGE + 3


def test_bad_uploads_are_messages(studio_model, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    write_image(tmp_path / "whole.png", (_photo() * 255).astype(np.uint8))
    whole = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(whole[:len(whole) // 2])
    huge_png(str(tmp_path / "huge.png"), side=8000)
    for name, phrase in (("notes.png", "not a readable image"),
                         ("truncated.png", "truncated.png"),
                         ("huge.png", "8000x8000")):
        result, message = studio._guarded(
            lambda: studio_model.load_photo(str(tmp_path / name)))
        assert result is None and phrase in message, message


def test_render_and_strip(studio_model):
    photo = _photo(height=36, width=52)
    ticks = []
    path = studio_model.render(photo, _settings(studio_model),
                               progress=lambda done, total: ticks.append(done))
    written = cv2.imread(path)
    assert written.shape == (36, 52, 3)
    strip = studio_model.strip(photo, _settings(studio_model))
    assert strip.shape == (36, 7 * 52 + 6 * 4, 3)
    # The strip's ends are the two styles alone.
    first = studio_model.preview(photo, _settings(studio_model, weights=[100, 0, 0, 0]))[0]
    np.testing.assert_array_equal(strip[:, :52], first)


def test_renders_are_kept_apart_in_one_folder_that_closing_removes(studio_model):
    own = studio.Studio(studio_model.painter, studio_model.model_path)
    photo = _photo(height=20, width=24)
    paths = [own.render(photo, _settings(own, weights=[w, 100 - w, 0, 0]))
             for w in (0, 100)]
    assert paths[0] != paths[1]
    assert {os.path.dirname(path) for path in paths} == {own.render_folder}
    assert sorted(os.listdir(own.render_folder)) == sorted(map(os.path.basename, paths))
    # The first render is not overwritten by the second.
    assert not np.array_equal(cv2.imread(paths[0]), cv2.imread(paths[1]))
    own.close()
    assert not os.path.exists(own.render_folder)
    assert os.path.isdir(studio_model.render_folder)


# --------------------------------------------------------------------------- browser


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _preview_after(page, previous_src, timeout=30_000):
    """The preview's image (uint8 RGB) once its source differs from previous_src."""
    page.wait_for_function(
        "previous => { const img = document.querySelector('#preview img');"
        " return img && img.src && img.src !== previous; }",
        arg=previous_src or "", timeout=timeout)
    src = page.locator("#preview img").get_attribute("src")
    data = np.frombuffer(page.request.get(src).body(), np.uint8)
    return src, cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _library_preview(studio_model, path, settings):
    image = painting.downscale_short_side(painting.load_content(path), studio.PREVIEW_SIDE)
    return atomic.to_pixels(studio_model.painter.paint(image, studio_model.plan(settings)))


@pytest.fixture
def browser_studio(studio_model):
    """The Studio the browser test shows: the :test one, or STUDIO_MODEL's."""
    if not os.environ.get("STUDIO_MODEL"):
        return studio_model
    return studio.Studio(painting.load(os.environ["STUDIO_MODEL"]),
                         os.environ["STUDIO_MODEL"])


@pytest.mark.slow
def test_studio_in_a_real_browser(browser_studio, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.isfile(CHROMIUM):
        pytest.skip(f"No browser to drive: {CHROMIUM} is missing (Debian: apt-get "
                    f"install chromium; .ci/run installs it).")
    photos = []
    for seed, size in ((1, (150, 200)), (2, (120, 120))):
        photos.append(str(tmp_path / f"photo{seed}.png"))
        image = (_photo(seed, 15, 20) * 255).astype(np.uint8)
        if seed == 1 and browser_studio.photos:  # one of the run's photos, made small
            image = cv2.cvtColor(cv2.imread(browser_studio.photos[0]), cv2.COLOR_BGR2RGB)
        write_image(tmp_path / f"photo{seed}.png", cv2.resize(image, size[::-1],
                                                              interpolation=cv2.INTER_AREA))
    page_app = studio.build_page(browser_studio).queue(default_concurrency_limit=1)
    port = _free_port()
    page_app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                    quiet=True, share=False)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                 args=["--no-sandbox"])
            _drive(browser, f"http://127.0.0.1:{port}/", browser_studio, photos,
                   tmp_path)
            browser.close()
    finally:
        page_app.close()


def _drive(browser, url, studio_model, photos, tmp_path):
    pages = [browser.new_context(viewport={"width": 1400, "height": 1700},
                                 accept_downloads=True).new_page() for _ in photos]
    for page in pages:
        page.goto(url)
        page.wait_for_selector("#content_upload input[type=file]", state="attached")
    # Two sessions upload at once: each gets the preview of its own photo (queued).
    for page, path in zip(pages, photos):
        page.locator("#content_upload input[type=file]").set_input_files(path)
    previews = [_preview_after(page, None) for page in pages]
    settings = _settings(studio_model, weights=[50, 50, 50, 50])
    for (_, preview), path in zip(previews, photos):
        expected = _library_preview(studio_model, path, settings)
        assert np.abs(preview.astype(int) - expected).max() <= 1
    page = pages[0]
    page.screenshot(path=str(tmp_path / "uploaded.png"), full_page=True)
    weight = page.locator("#weight_2 input[type=number]")
    weight.fill("80")
    weight.press("Enter")
    _, moved = _preview_after(page, previews[0][0])
    assert np.abs(moved.astype(int) - previews[0][1]).max() > 0
    expected = _library_preview(studio_model, photos[0],
                                _settings(studio_model, weights=[50, 80, 50, 50]))
    assert np.abs(moved.astype(int) - expected).max() <= 1  # within 1/255
    assert "Preview" in page.locator("#status").inner_text()
    page.click("#render")
    link = page.locator("#rendered a").first
    link.wait_for(timeout=60_000)
    with page.expect_download() as download:
        link.click()
    saved = str(tmp_path / "download.png")
    download.value.save_as(saved)
    assert cv2.imread(saved).shape == (150, 200, 3)
    page.screenshot(path=str(tmp_path / "rendered.png"), full_page=True)
    if os.environ.get("STUDIO_SCREENSHOT"):
        page.screenshot(path=os.environ["STUDIO_SCREENSHOT"], full_page=True)


def test_stylize_even_steps_paints_the_calibrated_weights(studio_model, tmp_path):
    photo = (_photo(height=32, width=32) * 255).astype(np.uint8)
    write_image(tmp_path / "photo.png", photo)
    a, b = studio_model.painter.names[:2]
    even = painting.paint_files(
        studio_model.painter, str(tmp_path / "photo.png"), str(tmp_path / "even.png"),
        styles=[f"{a}:0.3", f"{b}:0.7"], even_steps=True, progress=False)[0]
    shares = studio_model.painter.calibration().even_weights([0.3, 0.7], [a, b])
    mapped = painting.paint_files(
        studio_model.painter, str(tmp_path / "photo.png"), str(tmp_path / "mapped.png"),
        styles=[f"{a}:{shares[0]}", f"{b}:{shares[1]}"], progress=False)[0]
    np.testing.assert_array_equal(cv2.imread(even), cv2.imread(mapped))
    assert not np.array_equal(shares, [0.3, 0.7])


def test_a_run_with_several_style_folders_and_a_held_out_split(tmp_path):
    # experiments/paintings.py's layout: collections and single paintings, some held out.
    for path in ("content/a.png", "content/b.png", "content/held.png",
                 "collections/artist/1.png", "collections/artist/2.png",
                 "paintings/single.png"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        write_image(tmp_path / path, (_photo(height=16, width=16) * 255).astype(np.uint8))
    held_out = [str(tmp_path / "content/held.png"), str(tmp_path / "collections/artist/1.png")]
    workdir = tmp_path / "run"
    os.makedirs(workdir_lib.export_dir(str(workdir)))
    open(os.path.join(workdir_lib.export_dir(str(workdir)), workdir_lib.GENERATOR_FILE),
         "wb").close()  # found as an export; these tests read the run's folders only
    atomic.write_json(workdir_lib.config_path(str(workdir)), {
        "data": {"demo": False, "content_dir": str(tmp_path / "content"),
                 "style_dir": f"{tmp_path / 'collections'}, {tmp_path / 'paintings'}",
                 "exclude": held_out, "image_size": 16, "style_resize": 16},
        "vgg": {}})
    photos, previews = studio.run_files(str(workdir), ["artist", "single"])
    assert len(photos) == 3
    assert sorted(previews) == ["artist", "single"]
    contents, names, _, _, _, exclude = calibration_lib.calibration_data(str(workdir))
    assert names == ["a.png", "b.png"] and contents.shape == (2, 16, 16, 3)
    assert list(exclude) == held_out
