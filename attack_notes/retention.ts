// --keep is per room, and rooms are unlimited over time (only *live* rooms
// are capped): a member who moves to a new room every --keep messages is
// never trimmed, so the database grows without bound. Here --keep 100:
// 1,000 messages in one room keep 100 rows; the same 1,000 over 10 rooms,
// entered and parted one after another, keep all 1,000.
// Run: deno run -A attack_notes/retention.ts
import { Hub } from "../server/hub/hub.ts";
import { SqliteHistory } from "../server/history/sqlite.ts";
import { FakeMember } from "../tests/kit/fake_member.ts";
import { DatabaseSync } from "node:sqlite";

for (const rooms of [1, 10]) {
  const dir = await Deno.makeTempDir();
  const store = new SqliteHistory(`${dir}/chat.db`, 100);
  const hub = new Hub({ store, floodBurst: 1e9, floodRate: 1e9 });
  const m = new FakeMember();
  hub.join(m, "hopper", undefined, undefined, []);
  for (let r = 0; r < rooms; r++) {
    const room = `#hop${r}`;
    hub.handle(m, { type: "enter", room });
    for (let i = 0; i < 1000 / rooms; i++) {
      hub.handle(m, { type: "say", room, text: "x".repeat(2000) });
    }
    hub.handle(m, { type: "part", room });
  }
  store.close();
  const db = new DatabaseSync(`${dir}/chat.db`);
  const { n } = db.prepare("SELECT count(*) AS n FROM messages").get() as { n: number };
  db.close();
  console.log(
    `${rooms} room(s): ${n} rows kept with --keep 100; live rooms now ${[...hub.rooms()].length}`,
  );
  await Deno.remove(dir, { recursive: true });
}
