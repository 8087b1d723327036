// Room-name probes: which look-alikes are one room, which are two, what is refused.
import { checkRoom, typedRoom } from "../common/room.ts";
import { roomKey } from "../common/room_key.ts";

const show = (s: string) =>
  JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
function probe(label: string, a: string, b = "#dev") {
  const ca = checkRoom(a);
  const va = ca.ok ? ca.value : undefined;
  const same = va !== undefined &&
    roomKey(va) === roomKey(checkRoom(b).ok ? (checkRoom(b) as { value: string }).value : b);
  console.log(
    label.padEnd(34),
    show(a).padEnd(40),
    ca.ok ? `ok key=${show(roomKey(va!))} sameAs(${b})=${same}` : `REFUSED: ${ca.reason}`,
  );
}
probe("plain", "#dev");
probe("braille blank trailing", "#dev\u2800");
probe("braille blank inside", "#de\u2800v");
probe("mark after #", "#\u0301dev");
probe("combining overline after #", "#\u0305dev");
probe("combining mark after digit", "#dev1\u0336");
probe("digit one", "#dev1", "#devl");
probe("fullwidth hash via typedRoom", typedRoom("＃dev"));
probe("small number sign ﹟", "﹟dev");
probe("hangul filler", "#dev\u3164");
probe("KHITAN filler", "#dev\u{16FE4}");
probe("tag char", "#dev\u{E0041}");
probe("ideographic full stop", "#dev\u3002", "#dev.");
probe("ZWJ", "#de\u200dv");
probe("mongolian vowel sep", "#dev\u180e");
probe("RTL letters", "#\u05d0\u05d1");
probe("arabic letter mark", "#dev\u061c");
probe("halfwidth hangul filler", "#dev\uffa0");
probe("object replacement", "#dev\ufffc");
probe("combining grapheme joiner", "#dev\u034f");
probe("U+2062 invisible times", "#dev\u2062");
probe("U+1D159 null notehead", "#dev\u{1D159}");
probe("U+1D173 music begin beam", "#dev\u{1D173}");
probe("U+2028 line sep", "#dev\u2028x");
probe("bracket label trick", "#dev]");
probe("lobby look", "#Iobby", "#lobby");
probe("lobby look 2", "#1obby", "#lobby");
probe("lobby cyr", "#lоbby", "#lobby");
probe("hash in rest", "##dev", "#dev");
probe("leading space", " #dev");
probe("ligature ﬁ", "#ﬁx", "#fix");
probe("NFKC expand FDFA", "#\ufdfa");
probe("NFKC expand long", "#" + "\u3300".repeat(32));
probe("33 chars", "#" + "a".repeat(33));
probe("32 astral", "#" + "\u{1F600}".repeat(32));
probe("variation sel emoji", "#\u2764\ufe0f", "#\u2764");
probe("dev + U+0345 (ypogegrammeni)", "#dev\u0345");
probe("dotless i", "#\u0131", "#i");
probe("zero", "#dev0", "#devo");
probe("U+2800 alone", "#\u2800");
probe("U+115F? ", "#\u115f");
probe("U+1CBB?", "#dev\u2064");
probe("U+3000 ideographic space", "#dev\u3000x");
probe("U+00A0", "#dev\u00a0x");
probe("U+1680 ogham space", "#dev\u1680x");
probe("U+2000-ish punct space", "#dev\u2008x");
probe("U+FE58 small em dash", "#a\ufe58b", "#a-b");
probe("hyphen U+2010", "#a\u2010b", "#a-b");
probe("minus U+2212", "#a\u2212b", "#a-b");
probe("semicolon vs greek q mark", "#a\u037eb", "#a;b");
probe("U+02BC apostrophe", "#a\u02bcb", "#a'b");
