"""Session-scoped reads newer than kazoo: getEphemerals, getAllChildrenNumber, whoAmI.

zkCli uses all three (`getEphemerals`, `getAllChildrenNumber`, `whoami`); they go through
zkwire because kazoo 2.11 has no API for them.
"""

import zkwire
from conftest import DIGEST_USERS


def test_get_ephemerals_lists_only_this_sessions_ephemerals_under_the_prefix(zk, zk2, root):
    zk.create(f"{root}/a/e1", b"", ephemeral=True, makepath=True)
    zk.create(f"{root}/a/e2", b"", ephemeral=True)
    zk.create(f"{root}/b/e3", b"", ephemeral=True, makepath=True)
    zk.create(f"{root}/a/persistent", b"")
    zk2.create(f"{root}/a/other-session", b"", ephemeral=True)

    under_root = zkwire.call(zk, zkwire.GetEphemerals(root))
    assert sorted(under_root) == [f"{root}/a/e1", f"{root}/a/e2", f"{root}/b/e3"]
    under_a = zkwire.call(zk, zkwire.GetEphemerals(f"{root}/a"))
    assert sorted(under_a) == [f"{root}/a/e1", f"{root}/a/e2"]
    assert zkwire.call(zk2, zkwire.GetEphemerals(root)) == [f"{root}/a/other-session"]


def test_get_all_children_number_counts_every_descendant(zk, root):
    zk.create(f"{root}/t/a/b/c", b"", makepath=True)
    zk.create(f"{root}/t/a/d", b"")
    zk.create(f"{root}/t/e", b"")
    assert zkwire.call(zk, zkwire.GetAllChildrenNumber(f"{root}/t")) == 5
    assert zkwire.call(zk, zkwire.GetAllChildrenNumber(f"{root}/t/a/b/c")) == 0


def test_who_am_i_reports_the_sessions_identities(make_client):
    anonymous = make_client()
    infos = zkwire.call(anonymous, zkwire.WhoAmI())
    assert ("ip", "127.0.0.1") in infos
    assert not any(scheme == "digest" for scheme, _ in infos)

    alice = make_client(auth_data=[("digest", f"alice:{DIGEST_USERS['alice']}")])
    infos = zkwire.call(alice, zkwire.WhoAmI())
    assert ("digest", "alice") in infos
    assert ("ip", "127.0.0.1") in infos
