"""Deterministic synthetic OCR images for benchmarks and fidelity tests.

Every image is drawn with Pillow from a fixed seed using real fonts from Debian packages
(``tools/install-fonts.sh``), so a set regenerates to the same bytes wherever Pillow and
FreeType are the same versions.  The text is real and readable (Chinese phrases, English
sentences, prices, dates) because recognition fidelity means nothing on random glyphs.

Three named sets (:data:`IMAGE_SETS`):

- ``mixed`` (16 images) spans 320×240 to an A4 scan at 300 dpi plus a 4000×200 banner and
  stays small enough for PaddleOCR's own pipeline to process in 7–16 s on two cores;
- ``small`` is a 6-image subset of it (the same bytes) for quick tests;
- ``720p`` (12 images) holds 1280×720 frames with 7–21 lines drawn on each (10.4 on average), half
  PNG and half JPEG: the "720p-class image with about 10 lines" the GPU targets and the
  front-end's CPU budget per image are stated on.
``manifest.json`` next to the images records each image's spec, sha256 and the text lines
drawn on it, in drawing order.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = ["IMAGE_SETS", "MANIFEST", "ImageSpec", "Rendered", "generate_image_set", "image_specs",
           "render"]

# Bump when drawing code changes, so existing sets on disk are regenerated.
GENERATOR_VERSION = 1
MANIFEST = "manifest.json"

Size = tuple[int, int]
Color = tuple[int, int, int]

_FONT_DIR = Path("/usr/share/fonts/truetype")
# name -> (file, face index inside a .ttc)
_FONTS: dict[str, tuple[Path, int]] = {
    "cjk": (_FONT_DIR / "wqy/wqy-microhei.ttc", 0),
    "cjk_mono": (_FONT_DIR / "wqy/wqy-microhei.ttc", 1),
    "sans": (_FONT_DIR / "liberation/LiberationSans-Regular.ttf", 0),
    "serif": (_FONT_DIR / "liberation/LiberationSerif-Regular.ttf", 0),
    "dejavu": (_FONT_DIR / "dejavu/DejaVuSans.ttf", 0),
}

ZH_SENTENCES = (
    "今天天气很好，我们一起去公园散步。",
    "请在工作日上午九点到下午五点之间办理业务。",
    "本店所有商品均可七天无理由退换。",
    "会议将于下周三下午两点在三楼会议室举行。",
    "乘客请注意，列车即将进站，请站在安全线以内。",
    "本产品仅供学习和研究使用。",
    "感谢您一直以来的支持与信任。",
    "我们的目标是为客户提供最好的服务。",
    "春节期间营业时间有所调整，敬请谅解。",
    "数据显示，今年的销售额增长了百分之十二。",
    "学习使人进步，读书使人明智。",
    "请妥善保管好您的随身物品。",
    "新版本修复了已知问题并提升了识别速度。",
    "如有疑问，请联系客服热线。",
    "图书馆周一至周五开放，周末闭馆。",
    "北京市海淀区中关村大街一号。",
)
EN_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please keep your receipt for returns and exchanges.",
    "Optical character recognition turns images into text.",
    "All meetings will be held in room 302 unless noted.",
    "Our office is open Monday to Friday, 9:00 to 17:30.",
    "Shipping is free for orders over $50.",
    "Read the instructions carefully before use.",
    "This report summarizes the results of the third quarter.",
    "Thank you for your purchase!",
    "Total revenue grew by 12.5% compared to last year.",
    "The new release improves speed and fixes known issues.",
    "Visitors must sign in at the front desk.",
)
DOC_TITLES = ("季度工作报告", "Quarterly Report", "会议通知", "Product Manual", "用户服务协议")
NOTICE_TITLES = ("通知", "温馨提示", "NOTICE", "公告", "Attention")
# (Chinese name, English name) as on bilingual road signs.
PLACES = (
    ("人民广场", "People's Square"),
    ("火车站", "Railway Station"),
    ("机场高速", "Airport Expressway"),
    ("中山路", "Zhongshan Road"),
    ("图书馆", "Library"),
    ("体育中心", "Sports Center"),
    ("停车场", "Parking"),
    ("国际会展中心", "Expo Center"),
    ("市人民医院", "People's Hospital"),
    ("南京东路", "East Nanjing Road"),
)
SHOP_ITEMS = (
    "拿铁咖啡", "美式咖啡", "牛角面包", "矿泉水", "三明治", "水果沙拉",
    "绿茶", "巧克力蛋糕", "鲜牛奶", "酸奶", "苹果", "香蕉",
)
SHOPS = ("星光便利店", "阳光咖啡馆", "百佳超市", "好又多生活馆")
MENUS = (("文件", "编辑", "视图", "帮助"), ("File", "Edit", "View", "Tools", "Help"))
NAV_ITEMS = ("首页", "Dashboard", "消息通知", "个人中心", "Settings", "数据统计", "Reports")
FORM_FIELDS = (
    ("用户名", "zhang.wei"), ("电子邮箱", "user@example.com"), ("手机号码", "138 0013 8000"),
    ("Name", "Alice Chen"), ("City", "Shanghai"), ("订单编号", "NO.20240517"),
)
SLOGANS = (
    "热烈欢迎各位来宾参加年度技术交流大会",
    "Welcome to the Annual Technology Conference",
    "科技创新引领未来发展",
    "Grand Opening Sale 50% Off",
    "安全生产责任重于泰山",
)

_INK: Color = (25, 25, 25)
_WHITE: Color = (255, 255, 255)


@dataclass(frozen=True)
class Rendered:
    """An image and the text lines drawn on it, in drawing order."""

    image: Image.Image
    lines: list[str]


@dataclass(frozen=True)
class ImageSpec:
    """One image of the set: what to draw, how to distort it, how to save it.

    ``kind`` names a key of ``IMAGE_KINDS``, ``effect`` one of ``EFFECTS``; ``amount`` is the
    effect's parameter (degrees, blur radius).
    """

    name: str
    kind: str
    size: Size
    seed: int
    effect: str = "none"
    amount: float = 0.0
    jpeg_quality: int | None = None
    small: bool = False

    @property
    def filename(self) -> str:
        return f"{self.name}.{'jpg' if self.jpeg_quality else 'png'}"


class _Page:
    """A canvas that remembers every text line it draws (the ground truth)."""

    def __init__(self, size: Size, background: Color) -> None:
        self.image = Image.new("RGB", size, background)
        self.draw = ImageDraw.Draw(self.image)
        self.lines: list[str] = []

    def text(self, xy: tuple[float, float], text: str, font: ImageFont.FreeTypeFont,
             fill: Color, anchor: str = "la") -> None:
        self.draw.text(xy, text, font=font, fill=fill, anchor=anchor)
        self.lines.append(text)

    def rendered(self) -> Rendered:
        return Rendered(self.image, self.lines)


@lru_cache(maxsize=64)
def load_font(name: str, size: int) -> ImageFont.FreeTypeFont:
    path, index = _FONTS[name]
    if not path.exists():
        raise FileNotFoundError(f"font {path} is missing: run tools/install-fonts.sh")
    return ImageFont.truetype(str(path), size, index=index)


# Never start a line with these (CJK line-breaking rules): they hang past the margin instead.
_NO_LINE_START = frozenset("，。、；：！？）")


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy line breaking: Latin words stay whole, CJK breaks between characters."""
    lines: list[str] = []
    line = ""
    for token in re.findall(r"[!-~]+\s*|\s+|\S", text):
        too_long = font.getlength((line + token).rstrip()) > width
        if line and too_long and token not in _NO_LINE_START:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _date(rng: random.Random) -> str:
    return f"{rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _clock(rng: random.Random) -> str:
    return f"{rng.randint(7, 22):02d}:{rng.randint(0, 59):02d}"


def _paragraph(rng: random.Random, chinese: bool) -> tuple[str, str]:
    """A paragraph's text and the font that draws it."""
    if chinese:
        return "".join(rng.sample(ZH_SENTENCES, rng.randint(2, 4))), "cjk"
    return " ".join(rng.sample(EN_SENTENCES, rng.randint(2, 3))), "serif"


def document_page(rng: random.Random, size: Size) -> Rendered:
    """A scanned page: title, date, then alternating Chinese and English paragraphs."""
    w, h = size
    body = max(14, round(w / 54))  # 46 px on an A4 scan at 300 dpi: 11 pt
    margin = round(w * 0.08)
    page = _Page(size, (250, 249, 245))
    y = float(margin)
    title = load_font("cjk", round(body * 1.6))
    page.text((margin, y), rng.choice(DOC_TITLES), title, _INK)
    y += body * 3.0
    page.text((margin, y), f"日期 Date: {_date(rng)}  编号 No. {rng.randint(1000, 9999)}",
              load_font("cjk", body), _INK)
    y += body * 2.5
    chinese = rng.random() < 0.5
    while y + body * 1.6 < h - margin:
        text, face = _paragraph(rng, chinese)
        font = load_font(face, body)
        for line in _wrap(text, font, w - 2 * margin):
            if y + body * 1.6 >= h - margin:
                break
            page.text((margin, y), line, font, _INK)
            y += body * 1.6
        y += body * 0.8
        chinese = not chinese
    return page.rendered()


def notice(rng: random.Random, size: Size) -> Rendered:
    """A centred notice kept inside the middle of the canvas, so rotation never clips it."""
    w, h = size
    body = max(16, round(h / 22))
    page = _Page(size, (236, 233, 225))
    rows = [(rng.choice(NOTICE_TITLES), load_font("cjk", round(body * 1.8)))]
    rows += [(s, load_font("cjk", body)) for s in rng.sample(ZH_SENTENCES, 3)]
    rows += [(s, load_font("serif", body)) for s in rng.sample(EN_SENTENCES, 2)]
    rows.append((f"{_date(rng)}  {_clock(rng)}", load_font("sans", body)))
    rows = [(line, font) for text, font in rows for line in _wrap(text, font, w * 0.62)]
    height = sum(font.size * 1.7 for _, font in rows)
    y = (h - height) / 2
    page.draw.rectangle((w * 0.15, y - body, w * 0.85, y + height + body),
                        outline=(120, 40, 30), width=max(2, body // 6))
    for line, font in rows:
        page.text((w / 2, y), line, font, _INK, anchor="ma")
        y += font.size * 1.7
    return page.rendered()


def street_signs(rng: random.Random, size: Size) -> Rendered:
    """Bilingual road-sign plates: big white text on green, blue or brown."""
    w, h = size
    page = _Page(size, (150 + rng.randint(0, 60), 170 + rng.randint(0, 50), 190))
    count = 2 if h < 700 else 3
    slot = h / count
    for i, (zh, en) in enumerate(rng.sample(PLACES, count)):
        plate: Color = rng.choice([(0, 110, 60), (0, 70, 160), (120, 60, 20)])
        top, bottom = slot * i + slot * 0.1, slot * (i + 1) - slot * 0.1
        left, right = w * 0.08, w * 0.92
        page.draw.rounded_rectangle((left, top, right, bottom), radius=round(slot * 0.08),
                                    fill=plate, outline=_WHITE, width=max(3, round(slot / 40)))
        big = round((bottom - top) * 0.42)
        page.text((left + big * 0.5, top + big * 0.25), zh, load_font("cjk", big), _WHITE)
        page.text((left + big * 0.5, top + big * 1.45), en, load_font("sans", big // 2), _WHITE)
        page.text((right - big * 0.4, top + big * 0.4), f"{rng.randint(1, 40) / 10:.1f} km",
                  load_font("sans", big // 2), _WHITE, anchor="ra")
    return page.rendered()


def receipt(rng: random.Random, size: Size) -> Rendered:
    """A till receipt: monospaced lines, items with right-aligned prices, a total."""
    w = size[0]
    body = max(14, round(w / 22))
    mono = load_font("cjk_mono", body)
    page = _Page(size, (252, 252, 250))
    margin = w * 0.06
    y = body * 1.5
    page.text((w / 2, y), rng.choice(SHOPS), load_font("cjk", round(body * 1.4)), _INK, anchor="ma")
    y += body * 2.4
    page.text((margin, y), f"{_date(rng)} {_clock(rng)}", mono, _INK)
    y += body * 1.6
    page.text((margin, y), f"单号 NO.{rng.randint(100000, 999999)}", mono, _INK)
    y += body * 1.8
    page.draw.line((margin, y, w - margin, y), fill=_INK, width=2)
    y += body * 0.8
    total = 0.0
    items = rng.sample(SHOP_ITEMS, rng.randint(6, len(SHOP_ITEMS)))
    for item in items:
        qty, price = rng.randint(1, 3), rng.randint(150, 4800) / 100
        total += qty * price
        page.text((margin, y), f"{item} x{qty}", mono, _INK)
        page.text((w - margin, y), f"¥{qty * price:.2f}", mono, _INK, anchor="ra")
        y += body * 1.5
    page.draw.line((margin, y, w - margin, y), fill=_INK, width=2)
    y += body * 0.8
    page.text((margin, y), "合计 Total", mono, _INK)
    page.text((w - margin, y), f"¥{total:.2f}", mono, _INK, anchor="ra")
    y += body * 1.8
    for footer in ("支付方式: 微信支付", f"收银员 Cashier: {rng.randint(1, 20):02d}",
                   f"会员积分 Points: {rng.randint(0, 999)}"):
        page.text((margin, y), footer, mono, _INK)
        y += body * 1.5
    y += body * 0.8
    page.text((w / 2, y), "谢谢惠顾 欢迎再次光临", mono, _INK, anchor="ma")
    return page.rendered()


def ui_screenshot(rng: random.Random, size: Size) -> Rendered:
    """An application window: title bar, menu, sidebar, form fields and buttons."""
    w, h = size
    body = max(14, round(h / 40))
    ui = load_font("cjk", body)
    page = _Page(size, (243, 243, 243))
    bar = body * 2.2
    page.draw.rectangle((0, 0, w, bar), fill=(45, 45, 48))
    page.text((body, bar / 2), f"ocrserve 控制台 - {rng.choice(NAV_ITEMS)}", ui, _WHITE,
              anchor="lm")
    x = float(body)
    for item in rng.choice(MENUS):
        page.text((x, bar + body * 0.6), item, ui, _INK)
        x += ui.getlength(item) + body * 2
    side = w * 0.2
    top = bar + body * 2.4
    page.draw.rectangle((0, top, side, h), fill=(225, 228, 235))
    for i, item in enumerate(rng.sample(NAV_ITEMS, 5)):
        page.text((body, top + body * (1 + 2.2 * i)), item, ui, (40, 40, 90))
    x0, y = side + body * 2, top + body
    page.text((x0, y), rng.choice(DOC_TITLES), load_font("cjk", round(body * 1.5)), _INK)
    y += body * 3
    for label, value in rng.sample(FORM_FIELDS, 3):
        page.text((x0, y + body * 0.4), f"{label}:", ui, _INK)
        box = (x0 + body * 7, y, x0 + body * 25, y + body * 2)
        page.draw.rectangle(box, fill=_WHITE, outline=(160, 160, 160), width=1)
        page.text((box[0] + body * 0.5, y + body * 0.4), value, load_font("dejavu", body), _INK)
        y += body * 3
    for label, fill in (("确定 OK", (22, 119, 255)), ("取消 Cancel", (130, 130, 130))):
        right = x0 + ui.getlength(label) + body * 2
        page.draw.rounded_rectangle((x0, y, right, y + body * 2.2), radius=body // 3, fill=fill)
        page.text(((x0 + right) / 2, y + body * 1.1), label, ui, _WHITE, anchor="mm")
        x0 = right + body * 2
    page.text((body, h - body * 1.5), f"就绪 Ready  {_date(rng)} {_clock(rng)}", ui, (80, 80, 80))
    return page.rendered()


def price_tag(rng: random.Random, size: Size) -> Rendered:
    """A small shelf label: big price, item name, validity dates."""
    w, h = size
    page = _Page(size, (255, 221, 0))
    page.text((w / 2, h * 0.08), f"特价 {rng.choice(SHOP_ITEMS)}",
              load_font("cjk", round(h * 0.17)), (200, 20, 20), anchor="ma")
    page.text((w / 2, h * 0.36), f"¥{rng.randint(100, 9999) / 100:.2f}",
              load_font("sans", round(h * 0.26)), (200, 20, 20), anchor="ma")
    page.text((w / 2, h * 0.78), f"{_date(rng)} 截止", load_font("cjk", round(h * 0.09)), _INK,
              anchor="ma")
    return page.rendered()


def banner(rng: random.Random, size: Size) -> Rendered:
    """One very long line of slogans across a wide strip (an extreme aspect ratio)."""
    w, h = size
    font = load_font("cjk", round(h * 0.55))
    slogans = rng.sample(SLOGANS, len(SLOGANS))
    text = slogans[0]
    for slogan in slogans[1:]:
        if font.getlength(f"{text}  {slogan}") > w * 0.94:
            break
        text = f"{text}  {slogan}"
    page = _Page(size, (200, 20, 30))
    page.text((w / 2, h / 2), text, font, (255, 230, 80), anchor="mm")
    return page.rendered()


def skewed(image: Image.Image, degrees: float) -> Image.Image:
    """Rotate about the centre, filling the corners with the background colour."""
    background = image.getpixel((0, 0))
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=background)


def upside_down(image: Image.Image, _: float) -> Image.Image:
    """Rotate by 180°: what the angle classifier exists for."""
    return image.transpose(Image.Transpose.ROTATE_180)


def blurred(image: Image.Image, radius: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def unchanged(image: Image.Image, _: float) -> Image.Image:
    return image


IMAGE_KINDS: dict[str, Callable[[random.Random, Size], Rendered]] = {
    "document": document_page,
    "notice": notice,
    "signs": street_signs,
    "receipt": receipt,
    "ui": ui_screenshot,
    "price_tag": price_tag,
    "banner": banner,
}
EFFECTS: dict[str, Callable[[Image.Image, float], Image.Image]] = {
    "none": unchanged,
    "skew": skewed,
    "upside_down": upside_down,
    "blur": blurred,
}

_MIXED = (
    ImageSpec("tag_320x240", "price_tag", (320, 240), 101, small=True),
    ImageSpec("signs_800x600", "signs", (800, 600), 102, small=True),
    ImageSpec("receipt_480x1200", "receipt", (480, 1200), 103, small=True),
    ImageSpec("notice_skew_1024x768", "notice", (1024, 768), 104, "skew", 8.0, small=True),
    ImageSpec("doc_upside_down_960x720", "document", (960, 720), 105, "upside_down",
              small=True),
    ImageSpec("banner_4000x200", "banner", (4000, 200), 106, small=True),
    ImageSpec("doc_a4_2480x3508", "document", (2480, 3508), 107),
    ImageSpec("doc_1280x960", "document", (1280, 960), 108),
    ImageSpec("signs_1024x768", "signs", (1024, 768), 109),
    ImageSpec("ui_1280x720", "ui", (1280, 720), 110),
    ImageSpec("ui_1920x1080", "ui", (1920, 1080), 111),
    ImageSpec("notice_skew_800x600", "notice", (800, 600), 112, "skew", -13.0),
    ImageSpec("doc_blur_1280x720", "document", (1280, 720), 113, "blur", 1.2),
    ImageSpec("signs_blur_640x480", "signs", (640, 480), 114, "blur", 2.0),
    ImageSpec("ui_jpeg_1024x640", "ui", (1024, 640), 115, jpeg_quality=30),
    ImageSpec("receipt_jpeg_400x900", "receipt", (400, 900), 116, jpeg_quality=22),
)


_720P = (
    ImageSpec("doc_720p_1", "document", (1280, 720), 201),
    ImageSpec("doc_720p_2", "document", (1280, 720), 202, jpeg_quality=90),
    ImageSpec("doc_720p_skew", "document", (1280, 720), 203, "skew", 4.0, jpeg_quality=85),
    ImageSpec("signs_720p_1", "signs", (1280, 720), 204),
    ImageSpec("signs_720p_2", "signs", (1280, 720), 205, jpeg_quality=90),
    ImageSpec("signs_720p_blur", "signs", (1280, 720), 206, "blur", 1.0, jpeg_quality=80),
    ImageSpec("notice_720p_1", "notice", (1280, 720), 207),
    ImageSpec("notice_720p_2", "notice", (1280, 720), 208, jpeg_quality=90),
    ImageSpec("notice_720p_skew", "notice", (1280, 720), 209, "skew", -6.0),
    ImageSpec("ui_720p_1", "ui", (1280, 720), 210),
    ImageSpec("ui_720p_2", "ui", (1280, 720), 211, jpeg_quality=90),
    ImageSpec("doc_720p_upside_down", "document", (1280, 720), 212, "upside_down"),
)

#: The named image sets; ``small`` is part of ``mixed`` (the same specs, so the same bytes).
IMAGE_SETS: dict[str, tuple[ImageSpec, ...]] = {
    "mixed": _MIXED,
    "small": tuple(spec for spec in _MIXED if spec.small),
    "720p": _720P,
}


def image_specs(name: str = "mixed") -> list[ImageSpec]:
    try:
        return list(IMAGE_SETS[name])
    except KeyError:
        raise ValueError(f"no image set {name!r}; known: {', '.join(IMAGE_SETS)}") from None


def render(spec: ImageSpec) -> Rendered:
    """Draw one image; the same spec always gives the same pixels."""
    drawn = IMAGE_KINDS[spec.kind](random.Random(spec.seed), spec.size)
    return Rendered(EFFECTS[spec.effect](drawn.image, spec.amount), drawn.lines)


def _encode(spec: ImageSpec, image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    if spec.jpeg_quality:
        image.save(buffer, "JPEG", quality=spec.jpeg_quality)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def _fingerprint(specs: list[ImageSpec]) -> str:
    """Identifies a set: changes whenever the generator or any spec changes."""
    described = json.dumps([GENERATOR_VERSION, [asdict(s) for s in specs]], sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_current(out_dir: Path, fingerprint: str) -> bool:
    """True when the manifest names this very set and every file still has its recorded hash."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("fingerprint") != fingerprint:
        return False
    return all(
        (out_dir / entry["file"]).is_file() and _sha256(out_dir / entry["file"]) == entry["sha256"]
        for entry in manifest["images"]
    )


def generate_image_set(out_dir: Path, name: str = "mixed") -> list[Path]:
    """Write the image set ``name`` (and ``manifest.json``) into ``out_dir``; return the
    image paths.

    Idempotent: when ``out_dir`` already holds this exact set, nothing is redrawn.  The
    manifest is written last, so an interrupted run is redone on the next call.
    """
    specs = image_specs(name)
    fingerprint = _fingerprint(specs)
    paths = [out_dir / spec.filename for spec in specs]
    if _is_current(out_dir, fingerprint):
        return paths
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec, path in zip(specs, paths, strict=True):
        rendered = render(spec)
        data = _encode(spec, rendered.image)
        path.write_bytes(data)
        entries.append({**asdict(spec), "file": path.name,
                        "sha256": hashlib.sha256(data).hexdigest(), "lines": rendered.lines})
    manifest = {"version": GENERATOR_VERSION, "fingerprint": fingerprint, "images": entries}
    staging = out_dir / f"{MANIFEST}.tmp"
    staging.write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    staging.replace(out_dir / MANIFEST)
    return paths
