"""Last (by name): delete every checkpoint of the bank, and nothing the
product made for itself is left in the cloud."""


def test_deleting_every_checkpoint_empties_the_bank(kvg, bank_dir, full, chain):
    # the incremental's parent goes first: the incremental stays whole
    incremental = chain.incremental.json["checkpoint_id"]
    for checkpoint in [c["id"] for c in kvg.ok("list", "--all-projects").json]:
        if checkpoint == incremental:
            continue
        result = kvg("delete", checkpoint)
        assert result.rc == 0, result
    verify = kvg("verify", incremental)
    assert verify.rc == 0 and verify.json["ok"] is True, verify
    assert kvg("delete", incremental).rc == 0
    assert [p for p in bank_dir.rglob("data_*")] == []


def test_nothing_temporary_is_left(real):
    assert real.temporaries() == []
    every = {"all_tenants": 1}
    volumes = {f"volume-{v.id}" for v in real.cinder().volumes.list(search_opts=every)}
    assert real.rbd_images("volumes") == volumes
    assert real.rbd_images("images") == set()
    assert [i.name for i in real.glance().images.list()] == []
