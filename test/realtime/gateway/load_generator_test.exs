defmodule Realtime.Gateway.LoadGeneratorTest do
  @moduledoc """
  A small end-to-end run of the load generator (`benches/loadgen`, the Rust
  binary `mix bench load` drives) against the application in its own OS
  process on a synthetic dataset: about 200 sessions identify with the dev
  tokens the generator computes, receive every message a REST publisher
  posts, and time each one from its nonce. Checks that the generator and
  the server understand each other, not how fast they are.
  """
  use ExUnit.Case, async: false

  alias Realtime.Seed.Synthetic
  alias Realtime.Test.AppNode

  @moduletag timeout: 300_000
  @loadgen Path.expand("../../../target/release/loadgen", __DIR__)
  @bot "MTAwMDAwMDAwMDAwMDAwMDAwMQ.RTdev0.demo-bot-dev-token-not-a-secret"
  @sessions 200

  setup_all do
    {_, 0} = System.cmd("cargo", ["build", "--release", "--quiet", "-p", "loadgen"], cd: Path.expand("../../..", __DIR__), stderr_to_stdout: true)
    dir = Path.join(System.tmp_dir!(), "realtime-loadgen-#{System.unique_integer([:positive])}")
    {:ok, node} = AppNode.start([{"REALTIME_SEED", "synthetic:members=#{@sessions + 50},channels=2"}, {"REALTIME_DATA_DIR", dir}])

    on_exit(fn ->
      AppNode.kill(node)
      File.rm_rf!(dir)
    end)

    {:ok, node: node}
  end

  defp loadgen(node, args) do
    {out, status} = System.cmd(@loadgen, ["--port", "#{node.http}", "--deadline", "120" | args])
    assert status == 0, out
    out
    |> String.split("\n", trim: true)
    |> Enum.map(&(&1 |> Realtime.JSON.decode() |> elem(1)))
    |> Enum.reject(&(&1["event"] == "step_begin"))
  end

  test "sessions identify, every posted message reaches every session, and each is timed", %{node: node} do
    lines = loadgen(node, ~w(--mode fanout --sessions #{@sessions} --rates 10,20 --step 2 --publishers 2) ++ ["--channel", "#{Synthetic.channel_id(0, 0)}", "--bot-token", @bot])

    assert [%{"event" => "connected", "sessions" => @sessions, "failed" => 0, "complete" => true} = c | steps] = lines
    assert c["ready_latency"]["count"] == @sessions
    [s1, s2, done] = steps

    for step <- [s1, s2] do
      assert %{"event" => "step", "receivers" => @sessions} = step
      assert step["accepted"] > 0 and step["accepted"] == step["sent"]
      assert step["delivered"] == step["expected"]
      assert step["latency"]["count"] == step["delivered"]
      assert step["latency"]["p50_ms"] > 0
    end

    assert s2["accepted"] > s1["accepted"]
    assert %{"event" => "done", "failed" => 0} = done
  end

  test "an identify storm: every session gets READY, and the rate is reported", %{node: node} do
    assert [%{"event" => "storm", "ready" => @sessions, "failed" => 0} = storm, %{"event" => "done"}] = loadgen(node, ~w(--mode storm --sessions #{@sessions}))
    assert storm["identify_per_s"] > 0 and storm["ready_latency"]["count"] == @sessions
  end
end
