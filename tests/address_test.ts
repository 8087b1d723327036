import assert from "node:assert/strict";
import { clientAddress, network } from "../server/address.ts";

Deno.test("clientAddress() writes one client in one spelling: IPv6 compressed, IPv4-mapped as IPv4", () => {
  for (
    const [given, spelled] of [
      ["203.0.113.7", "203.0.113.7"],
      ["2001:DB8:0:0::7", "2001:db8::7"],
      ["2001:0db8:0000:0000:0000:0000:0000:0007", "2001:db8::7"],
      ["::ffff:127.0.0.1", "127.0.0.1"],
      ["::FFFF:7f00:1", "127.0.0.1"],
      ["::1", "::1"],
      ["not an address", "not an address"],
    ]
  ) {
    assert.equal(clientAddress(given!), spelled, given);
  }
});

Deno.test("network() counts an IPv6 address with its /64, an IPv4 address alone", () => {
  for (
    const [given, counted] of [
      ["203.0.113.7", "203.0.113.7"],
      ["::ffff:203.0.113.7", "203.0.113.7"],
      ["2001:db8::1", "2001:db8::/64"],
      ["2001:db8:0:0:ffff:ffff:ffff:ffff", "2001:db8::/64"],
      ["2001:DB8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
      ["2001:db8:1:2::", "2001:db8:1:2::/64"],
      ["2001:db8:1:3::1", "2001:db8:1:3::/64"],
      ["::1", "::/64"],
      ["fe80::1:2", "fe80::/64"],
      // A network as written is its own.
      ["2001:db8:1:2::/64", "2001:db8:1:2::/64"],
      ["2001:DB8:1:2:0:0:0:9/64", "2001:db8:1:2::/64"],
      ["not an address", "not an address"],
    ]
  ) {
    assert.equal(network(given!), counted, given);
  }
});
