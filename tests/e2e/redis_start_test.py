"""The Redis start wrapper (deploy/redis/redis-start.sh) against append-only files torn by a crash.

Each Trellis write is one Lua script, logged in the AOF as one MULTI/EXEC block. A crash can cut
the file anywhere. Whatever the cut, Redis must come back with each script either whole or absent,
and must keep it that way across the next writes and restarts. Redis 7.0 alone fails the second
half: it leaves a torn block's MULTI in the file, and the next restart replays the torn script
together with the next one. This test cuts a real AOF at every byte, then starts, writes, restarts
and reads back through the wrapper.
"""
import glob
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import REDIS_START, Redis, free_port, wait_until

SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return 1"


def incr_file(redis):
    files = glob.glob(os.path.join(redis.dir, "appendonlydir", "*.incr.aof"))
    assert len(files) == 1, files
    return files[0]


def get(redis, key):
    return redis.cli("GET", key) or None


class RedisStartTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="trellis-redis-start-")
        self.redis = None

    def tearDown(self):
        if self.redis is not None:
            self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def write_original(self):
        """One plain write, then one script of two writes; returns the incr file's bytes and the
        Redis (stopped) whose directory holds the AOF."""
        self.redis = Redis(self.workdir)
        self.redis.cli("SET", "a", "1")
        self.redis.cli("EVAL", SCRIPT, "2", "b", "c", "2")
        self.redis.stop(hard=False)
        with open(incr_file(self.redis), "rb") as f:
            return f.read()

    def test_a_script_torn_anywhere_comes_back_whole_or_not_at_all_and_stays_so(self):
        original = self.write_original()
        self.assertIn(b"MULTI", original)
        manifest_dir = os.path.join(self.redis.dir, "appendonlydir")
        kept = {name: open(os.path.join(manifest_dir, name), "rb").read()
                for name in os.listdir(manifest_dir) if not name.endswith(".incr.aof")}
        incr_name = incr_file_name(kept)
        multi_at = original.index(b"*1\r\n$5\r\nMULTI")
        outcomes = set()
        for cut in range(len(original) + 1):
            with self.subTest(cut=cut):
                shutil.rmtree(self.redis.dir)
                os.makedirs(manifest_dir)
                for name, data in kept.items():
                    with open(os.path.join(manifest_dir, name), "wb") as f:
                        f.write(data)
                with open(os.path.join(manifest_dir, incr_name), "wb") as f:
                    f.write(original[:cut])
                try:
                    outcomes.add(self.start_write_restart(original, cut, multi_at))
                finally:
                    self.redis.stop(hard=True)
        self.assertEqual(outcomes, {(None, None), ("2", "2")})

    def start_write_restart(self, original, cut, multi_at):
        """Starts Redis on the AOF cut at `cut`, checks the script is whole or absent, runs the
        next script, kills and restarts Redis and checks the first script stayed as it was.
        Returns what the first start held of the script."""
        self.redis.start()
        first = (get(self.redis, "b"), get(self.redis, "c"))
        self.assertIn(first, [(None, None), ("2", "2")], "the script came back in part")
        torn_copies = glob.glob(os.path.join(self.redis.dir, "aof-torn-*"))
        if cut == len(original):
            self.assertEqual(first, ("2", "2"))
            self.assertEqual(torn_copies, [], "a whole file was cut")
        if multi_at < cut < len(original):
            # Cut inside the script: the cut bytes are kept beside the data, not thrown away.
            self.assertEqual(first, (None, None))
            self.assertEqual(len(torn_copies), 1, "no copy of the cut bytes")
            with open(torn_copies[0], "rb") as f:
                kept = f.read()
            self.assertTrue(kept and original[:cut].endswith(kept), kept)
        if cut >= multi_at:
            self.assertEqual(get(self.redis, "a"), "1", "a whole command before the cut was lost")

        # The next script, a kill, a restart: the torn script must not come back with it.
        self.redis.cli("EVAL", SCRIPT, "2", "x", "y", "9")
        self.redis.stop(hard=True)
        self.redis.start()
        self.assertEqual((get(self.redis, "b"), get(self.redis, "c")), first)
        self.assertEqual((get(self.redis, "x"), get(self.redis, "y")), ("9", "9"))
        return first

    def test_a_file_already_holding_a_torn_script_mid_way_is_refused(self):
        original = self.write_original()
        path = incr_file(self.redis)
        # Torn inside the script's last SET (a short read). Redis 7.0 loads that alone, keeps the
        # MULTI and the first SET in the file and appends the next script behind them.
        with open(path, "wb") as f:
            f.write(original[:original.rindex(b"*1\r\n$4\r\nEXEC") - 3])
        port = free_port()
        plain = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                  "--dir", self.redis.dir, "--appendonly", "yes", "--save", "",
                                  "--logfile", os.path.join(self.redis.dir, "plain.log")])
        try:
            self.redis.port = port
            self.assertTrue(wait_until(self.redis.ping, 10))
            self.redis.cli("EVAL", SCRIPT, "2", "x", "y", "9")
            self.redis.cli("SHUTDOWN", "NOSAVE")
        except subprocess.CalledProcessError:
            pass  # SHUTDOWN closes the connection without a reply
        finally:
            plain.wait(10)

        run = subprocess.run([REDIS_START, "--port", str(free_port()), "--bind", "127.0.0.1",
                              "--dir", self.redis.dir, "--appendonly", "yes", "--save", ""],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn("Unexpected MULTI", run.stderr)
        self.assertIn("not starting", run.stderr)
        self.redis = None


def incr_file_name(kept):
    """The incr file's name, from the manifest kept beside it."""
    manifest = next(data for name, data in kept.items() if name.endswith(".manifest"))
    for line in manifest.decode().splitlines():
        fields = line.split()
        if "type" in fields and fields[fields.index("type") + 1] == "i":
            return fields[fields.index("file") + 1]
    raise AssertionError(f"no incr file in the manifest: {manifest!r}")


if __name__ == "__main__":
    unittest.main()
