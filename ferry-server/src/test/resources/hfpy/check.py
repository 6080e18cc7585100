# Reads a model from a Ferry server with Hugging Face's own Python client (huggingface_hub), as a user with HF_ENDPOINT
# set would. HfPythonClientTest runs it:
#   python check.py SCENARIO SPEC.json  ->  one JSON object on the last line, a result per call
# HF_ENDPOINT, HF_HOME and HF_TOKEN come from the environment. A call that raises gives
# {"error": <exception class>, "status": <HTTP status>, "message": <text>}; the test asserts on the class, so the typed
# errors (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError) are checked, not just a failure.
import hashlib
import json
import os
import sys

scenario, spec_path = sys.argv[1], sys.argv[2]
spec = json.load(open(spec_path, encoding="utf-8"))
repo = spec["repo"]

import huggingface_hub as h  # noqa: E402  (after the environment is read)
from huggingface_hub import HfApi, HfFileSystem  # noqa: E402

api = HfApi()
out = {"version": h.__version__}


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tree(path):
    """Every file under a directory (relative path -> SHA-256), the client's own metadata left out."""
    found = {}
    for d, _, names in os.walk(path):
        for n in names:
            rel = os.path.relpath(os.path.join(d, n), path).replace(os.sep, "/")
            if not rel.startswith(".cache/"):
                found[rel] = digest(os.path.join(d, n))
    return found


def call(label, f):
    try:
        out[label] = f()
    except Exception as e:  # the class is the result
        response = getattr(e, "response", None)
        out[label] = {"error": type(e).__name__, "status": getattr(response, "status_code", None),
                      "message": str(e)[-600:]}


def entries(items):
    return sorted([x.path, type(x).__name__] for x in items)


if scenario == "open":
    tagged, head = spec["tagged"], spec["head"]
    for name, rev in [("main", None), ("tag", spec["tag"]), ("id", tagged), ("idUpper", tagged.upper()),
                      ("idShort", tagged[:10]), ("refsTags", "refs/tags/" + spec["tag"]), ("refsHeads", "refs/heads/main")]:
        call("config@" + name, lambda rev=rev: digest(h.hf_hub_download(repo, "config.json", revision=rev)))
    for path in spec["files"]:
        call("file:" + path, lambda path=path: digest(h.hf_hub_download(repo, path, revision=spec["tag"])))
    call("subfolder", lambda: digest(h.hf_hub_download(repo, "notes.txt", subfolder="sub/deep", revision=spec["tag"])))
    call("missingFile", lambda: h.hf_hub_download(repo, "nope.json"))
    call("missingRevision", lambda: h.hf_hub_download(repo, "config.json", revision="nope"))
    call("missingId", lambda: h.hf_hub_download(repo, "config.json", revision="ab" * 32))
    call("missingShortId", lambda: h.hf_hub_download(repo, "config.json", revision="abcdef01"))
    call("prRevision", lambda: h.hf_hub_download(repo, "config.json", revision="refs/pr/1"))
    call("missingModel", lambda: h.hf_hub_download("org/nope", "config.json"))
    call("dataset", lambda: h.hf_hub_download(repo, "config.json", repo_type="dataset"))
    call("datasetInfo", lambda: api.dataset_info(repo))
    call("infoMissingModel", lambda: api.model_info("org/nope"))
    call("infoMissingRevision", lambda: api.model_info(repo, revision="nope"))

    def info():
        i = api.model_info(repo, revision=spec["tag"], files_metadata=True)
        return {"sha": i.sha, "files": {s.rfilename: [s.size, s.lfs.sha256 if s.lfs else None] for s in i.siblings}}
    call("info", info)
    call("infoShort", lambda: api.model_info(repo, revision=tagged[:10]).sha)
    call("listFiles", lambda: sorted(api.list_repo_files(repo, revision=spec["tag"])))
    call("treeTop", lambda: entries(api.list_repo_tree(repo, revision=spec["tag"])))
    call("treeRecursive", lambda: entries(api.list_repo_tree(repo, revision=spec["tag"], recursive=True)))
    call("treeSub", lambda: entries(api.list_repo_tree(repo, path_in_repo="sub", revision=spec["tag"])))
    call("treeSubSlash", lambda: entries(api.list_repo_tree(repo, path_in_repo="sub/", revision=spec["tag"])))
    call("treeDeep", lambda: entries(api.list_repo_tree(repo, path_in_repo="sub/deep", revision=spec["tag"])))
    call("treeMissing", lambda: list(api.list_repo_tree(repo, path_in_repo="nope")))
    call("pathsInfo", lambda: entries(api.get_paths_info(repo, ["config.json", "sub", "sub/deep/notes.txt", "nope"],
                                                         revision=spec["tag"])))
    call("fileExists", lambda: [api.file_exists(repo, "config.json"), api.file_exists(repo, "nope.json"),
                                api.file_exists(repo, "config.json", revision="nope")])
    call("repoExists", lambda: [api.repo_exists(repo), api.repo_exists("org/nope")])
    call("revisionExists", lambda: [api.revision_exists(repo, spec["tag"]), api.revision_exists(repo, "nope"),
                                    api.revision_exists(repo, tagged), api.revision_exists(repo, tagged[:10])])

    def safetensors():
        m = api.get_safetensors_metadata(repo, revision=spec["tag"])
        return {"sharded": m.sharded, "files": sorted(m.files_metadata), "parameters": m.parameter_count}
    call("safetensors", safetensors)

    def refs():
        r = api.list_repo_refs(repo)
        return {"branches": [[b.name, b.ref, b.target_commit] for b in r.branches],
                "tags": [[t.name, t.ref, t.target_commit] for t in r.tags]}
    call("refs", refs)
    call("commits", lambda: [c.commit_id for c in api.list_repo_commits(repo)])
    call("commitsTag", lambda: [[c.commit_id, c.title, c.authors] for c in api.list_repo_commits(repo, revision=spec["tag"])])

    def ranged():
        fs = HfFileSystem()
        name = spec["safetensorsFile"]
        with fs.open(f"{repo}@{spec['tag']}/{name}", "rb", block_size=64) as f:
            f.seek(3)
            return f.read(20).hex()
    call("rangedRead", ranged)
    # whole snapshots: to the cache with patterns, a second time from the cache, into a local directory
    # (the patterns' snapshots each into a cache of their own: a snapshot folder also holds the files fetched before)
    call("snapshotJson", lambda: tree(h.snapshot_download(repo, revision=spec["tag"], allow_patterns=["*.json"],
                                                          cache_dir=spec["localDir"] + "-json")))
    call("snapshotNoWeights", lambda: tree(h.snapshot_download(repo, revision=spec["tag"],
                                                               ignore_patterns=["*.safetensors"],
                                                               cache_dir=spec["localDir"] + "-no-weights")))
    call("snapshot", lambda: tree(h.snapshot_download(repo, revision=spec["tag"])))
    call("snapshotPath", lambda: h.snapshot_download(repo, revision=spec["tag"]))
    call("snapshotAgainPath", lambda: h.snapshot_download(repo, revision=spec["tag"]))
    call("snapshotHead", lambda: tree(h.snapshot_download(repo)))
    call("localDir", lambda: tree(h.snapshot_download(repo, revision=spec["tag"], local_dir=spec["localDir"])))
    call("snapshotMissingRevision", lambda: h.snapshot_download(repo, revision="nope"))
    call("renamedFile", lambda: digest(h.hf_hub_download("org/py-old", "config.json", revision="prod")))
    call("renamedInfo", lambda: api.model_info("org/py-old").id)
    call("renamedSnapshot", lambda: tree(h.snapshot_download("org/py-old", revision="prod")))
elif scenario == "offline":
    # HF_HUB_OFFLINE=1 and an endpoint nobody answers: all from the cache the "open" scenario filled
    call("offlineSnapshot", lambda: tree(h.snapshot_download(repo, revision=spec["tag"])))
    call("offlineFile", lambda: digest(h.hf_hub_download(repo, "config.json", revision=spec["tag"])))
    call("offlineHead", lambda: digest(h.hf_hub_download(repo, "config.json")))
elif scenario == "tokens":
    call("withToken", lambda: digest(h.hf_hub_download(repo, "config.json", revision=spec["tag"],
                                                       token=spec["token"])))
    call("withEnvToken", lambda: api.model_info(repo).sha)  # HF_TOKEN
    call("withoutToken", lambda: h.hf_hub_download(repo, "config.json", token=False))
    call("infoWithoutToken", lambda: api.model_info(repo, token=False))
    call("missingModelWithoutToken", lambda: api.model_info("org/nope", token=False))
    call("otherScope", lambda: h.hf_hub_download(repo, "tokenizer.json", token=spec["otherToken"]))
    call("infoOtherScope", lambda: api.model_info(repo, token=spec["otherToken"]))
    call("missingModelOtherScope", lambda: api.model_info("org/nope", token=spec["otherToken"]))
    call("badToken", lambda: api.model_info(repo, token="hf_not_a_token"))
    call("whoami", lambda: api.whoami(token=spec["token"]))
    call("login", lambda: h.login(token=spec["token"], add_to_git_credential=False) or "logged in")
    call("listModels", lambda: [m.id for m in api.list_models(token=spec["token"])])
    call("listSearch", lambda: [(m.id, m.sha) for m in api.list_models(search="PY-N", token=spec["token"])])
    call("listAuthorLimit", lambda: [m.id for m in api.list_models(author="org", limit=1, token=spec["token"])])
    call("listOtherScope", lambda: [m.id for m in api.list_models(token=spec["otherToken"])])
    call("whoamiBad", lambda: api.whoami(token="hf_not_a_token"))
elif scenario == "busy":
    # the server's memory budget is taken until the test sees this download refused for it
    call("busyFile", lambda: digest(h.hf_hub_download(repo, "config.json", revision=spec["tag"])))
else:
    raise SystemExit("unknown scenario " + scenario)
print(json.dumps(out))
