defmodule Realtime.Test.Netns do
  @moduledoc """
  Separate "hosts" on one machine for partition tests: Linux network
  namespaces (`ip netns`, Debian's iproute2; needs root), each with one end
  of a veth pair whose other end is on a bridge in the root namespace, at
  10.77.0.i/24. The bridge has no address: the hosts reach each other, and
  nothing else. `cut/2` and `heal/2` take a host's link down and up again,
  which is what a netsplit looks like to the nodes. `delete/1` removes it
  all; names are unique per call so that a crashed run leaves nothing that
  blocks the next.

  BEAM nodes are started inside with OTP's `:peer` (`ip netns exec ... erl`),
  controlled over standard I/O, so the test VM needs no distribution route
  into the namespaces.
  """

  @type t :: %{tag: String.t(), bridge: String.t(), hosts: pos_integer}

  @doc "Creates `hosts` namespaces on a new bridge."
  @spec create!(pos_integer) :: t
  def create!(hosts) do
    tag = Integer.to_string(rem(System.unique_integer([:positive]) + :erlang.phash2(System.pid()), 10_000))
    net = %{tag: tag, bridge: "rtb#{tag}", hosts: hosts}
    ip!(["link", "add", net.bridge, "type", "bridge"])
    ip!(["link", "set", net.bridge, "up"])

    for i <- 1..hosts do
      ns = namespace(net, i)
      ip!(["netns", "add", ns])
      ip!(["link", "add", veth(net, i), "type", "veth", "peer", "name", "eth0", "netns", ns])
      ip!(["link", "set", veth(net, i), "master", net.bridge, "up"])
      ip!(["netns", "exec", ns, "ip", "addr", "add", "#{address(i)}/24", "dev", "eth0"])
      ip!(["netns", "exec", ns, "ip", "link", "set", "eth0", "up"])
      ip!(["netns", "exec", ns, "ip", "link", "set", "lo", "up"])
    end

    net
  end

  @doc "Removes the namespaces (and with them their links) and the bridge."
  @spec delete(t) :: :ok
  def delete(net) do
    for i <- 1..net.hosts, do: System.cmd("ip", ["netns", "del", namespace(net, i)], stderr_to_stdout: true)
    System.cmd("ip", ["link", "del", net.bridge], stderr_to_stdout: true)
    :ok
  end

  @doc "Cuts host `i` off the network."
  @spec cut(t, pos_integer) :: :ok
  def cut(net, i), do: ip!(["link", "set", veth(net, i), "down"])

  @doc "Reconnects host `i`."
  @spec heal(t, pos_integer) :: :ok
  def heal(net, i), do: ip!(["link", "set", veth(net, i), "up"])

  @doc "Host `i`'s address."
  @spec address(pos_integer) :: String.t()
  def address(i), do: "10.77.0.#{i}"

  @doc """
  Starts a BEAM node named `name@10.77.0.i` inside host `i`, with this
  build's code path, a short net tick (so that a cut is noticed within
  seconds) and logging limited to critical messages. Returns `{peer, node}`.
  """
  @spec start_node!(t, pos_integer, String.t(), String.t()) :: {pid, node}
  def start_node!(net, i, name, cookie) do
    erl = String.to_charlist(System.find_executable("erl"))

    {:ok, peer, node} =
      :peer.start_link(%{
        name: String.to_charlist(name),
        host: String.to_charlist(address(i)),
        longnames: true,
        connection: :standard_io,
        exec: {~c"/usr/sbin/ip", [~c"netns", ~c"exec", String.to_charlist(namespace(net, i)), erl]},
        args: Enum.map(["-setcookie", cookie, "-kernel", "net_ticktime", "4", "-kernel", "logger_level", "critical"], &String.to_charlist/1)
      })

    :ok = :peer.call(peer, :code, :add_pathsa, [:code.get_path()])
    {peer, node}
  end

  defp namespace(net, i), do: "rt#{net.tag}n#{i}"
  defp veth(net, i), do: "rt#{net.tag}v#{i}"

  defp ip!(args) do
    case System.cmd("ip", args, stderr_to_stdout: true) do
      {_, 0} -> :ok
      {out, status} -> raise "ip #{Enum.join(args, " ")} exited with #{status}: #{out}"
    end
  end
end
