defmodule Realtime.Test.ClusterPeers do
  @moduledoc """
  BEAM nodes for cluster tests: OTP's `:peer` nodes on loopback with this
  build's code path, so that they load our modules and the NIF. The test VM
  becomes distributed first (starting `epmd` if needed). Peers are linked to
  the calling test process and stop with it.
  """

  import ExUnit.Assertions

  @doc "Makes this VM a distributed node, starting epmd if it is not running."
  @spec distribute!() :: node
  def distribute! do
    unless Node.alive?() do
      {_, 0} = System.cmd("epmd", ["-daemon"])
      # Hidden, like a remote shell: peers never count the runner as one of
      # their own, and global's partition checks leave it out.
      name = :"realtime_test_#{System.unique_integer([:positive])}@127.0.0.1"
      {:ok, _} = :net_kernel.start(name, %{name_domain: :longnames, hidden: true})
    end

    node()
  end

  @doc "Starts peer `name` with our code path and logging of errors only (global's partition warnings are expected when a node leaves); returns `{peer, node}`."
  @spec start!(String.t()) :: {pid, node}
  def start!(name) do
    distribute!()
    {:ok, peer, node} = :peer.start_link(%{name: String.to_charlist(name), host: ~c"127.0.0.1", longnames: true, args: [~c"-setcookie", Atom.to_charlist(Node.get_cookie())]})
    :ok = :erpc.call(node, :code, :add_pathsa, [:code.get_path()])
    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:logger])
    :ok = :erpc.call(node, Logger, :configure, [[level: :error]])
    {peer, node}
  end

  @doc "Distribution messages this node has sent to `node` so far (`:net_kernel.node_info/1`'s `out`)."
  @spec sent_to(node) :: non_neg_integer
  def sent_to(node) do
    {:ok, info} = :net_kernel.node_info(node)
    Keyword.fetch!(info, :out)
  end

  # Called on peers (this module is in the shared code path).

  @doc false
  def start_fanout do
    {:ok, pid} = Realtime.Fanout.Supervisor.start_link([])
    Process.unlink(pid)
    :ok
  end

  @doc "Spawns `n` processes that keep what they receive until asked with `{:dump, from}`."
  @spec spawn_recorders(pos_integer) :: [pid]
  def spawn_recorders(n), do: for(_ <- 1..n, do: spawn(fn -> record([]) end))

  @doc "What a recorder received, oldest first."
  @spec dump(pid) :: [term]
  def dump(recorder) do
    send(recorder, {:dump, self()})

    receive do
      {:recorded, ^recorder, got} -> got
    after
      10_000 -> flunk("recorder #{inspect(recorder)} did not answer")
    end
  end

  defp record(acc) do
    receive do
      {:dump, from} -> send(from, {:recorded, self(), Enum.reverse(acc)})
      msg -> record([msg | acc])
    end
  end

  @doc "Polls `fun` every 50 ms until it returns a truthy value, for at most `ms`."
  @spec eventually((-> term), pos_integer, String.t()) :: term
  def eventually(fun, ms \\ 10_000, what \\ "condition") do
    deadline = System.monotonic_time(:millisecond) + ms
    poll(fun, deadline, what)
  end

  defp poll(fun, deadline, what) do
    case fun.() do
      result when result not in [nil, false] ->
        result

      _ ->
        if System.monotonic_time(:millisecond) > deadline, do: flunk("#{what} did not hold within the time limit")
        Process.sleep(50)
        poll(fun, deadline, what)
    end
  end
end
