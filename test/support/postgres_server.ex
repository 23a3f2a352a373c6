defmodule Realtime.Test.PostgresServer do
  @moduledoc """
  A throwaway PostgreSQL server for tests: `initdb` into a fresh temporary
  directory, `pg_ctl start` listening on a Unix socket in that directory
  only (no TCP port), and `stop/1` to end it and delete everything. Uses
  Debian's `postgresql` package (installed by `bin/setup`). PostgreSQL
  refuses to run as root, so as root the server runs as `postgres`.

  Every command is bounded (`pg_ctl -t`), and `stop/1` is safe to call twice.
  """

  @type t :: %{dir: Path.t(), data: Path.t(), socket: Path.t(), url: String.t(), bin: Path.t()}

  @doc "Starts a server; returns where it is and its connection string."
  @spec start() :: t
  def start do
    bin = bin_dir()
    dir = Path.join(System.tmp_dir!(), "realtime-pg-#{System.unique_integer([:positive])}-#{System.pid()}")
    File.rm_rf!(dir)
    File.mkdir_p!(dir)
    server = %{dir: dir, data: Path.join(dir, "data"), socket: dir, bin: bin, url: "host=#{dir} port=5432 user=postgres dbname=postgres"}
    if root?(), do: {_, 0} = System.cmd("chown", ["-R", "postgres:postgres", dir])
    run!(server, "initdb", ["-D", server.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions"])
    start_server(server)
    server
  end

  @doc "Starts a stopped server again, on the same data."
  @spec start_server(t) :: :ok
  def start_server(server) do
    opts = "-k #{server.socket} -p 5432 -c listen_addresses='' -c max_connections=60"
    run!(server, "pg_ctl", ["-D", server.data, "-o", opts, "-l", Path.join(server.dir, "log"), "-w", "-t", "30", "start"])
    :ok
  end

  @doc "Stops the server (fast shutdown), keeping its data."
  @spec stop_server(t) :: :ok
  def stop_server(server) do
    run(server, "pg_ctl", ["-D", server.data, "-m", "fast", "-w", "-t", "30", "stop"])
    :ok
  end

  @doc "Stops the server and deletes its directory."
  @spec stop(t) :: :ok
  def stop(server) do
    run(server, "pg_ctl", ["-D", server.data, "-m", "immediate", "-w", "-t", "30", "stop"])
    File.rm_rf!(server.dir)
    :ok
  end

  @doc "Runs SQL with psql in database `db`; returns its output."
  @spec psql!(t, String.t(), String.t()) :: String.t()
  def psql!(server, sql, db \\ "postgres"), do: run!(server, "psql", ["-h", server.socket, "-U", "postgres", "-d", db, "-At", "-c", sql])

  defp run!(server, cmd, args) do
    case run(server, cmd, args) do
      {out, 0} -> out
      {out, status} -> raise "#{cmd} exited with #{status}: #{out}"
    end
  end

  defp run(server, cmd, args) do
    exe = Path.join(server.bin, cmd)
    exe = if File.exists?(exe), do: exe, else: System.find_executable(cmd)

    if root?(),
      do: System.cmd("runuser", ["-u", "postgres", "--", exe | args], stderr_to_stdout: true),
      else: System.cmd(exe, args, stderr_to_stdout: true)
  end

  defp bin_dir do
    case "/usr/lib/postgresql/*/bin/initdb" |> Path.wildcard() |> Enum.sort() |> List.last() do
      nil -> raise "PostgreSQL is not installed: run bin/setup (it installs Debian's postgresql package)"
      initdb -> Path.dirname(initdb)
    end
  end

  defp root?, do: System.cmd("id", ["-u"]) |> elem(0) |> String.trim() == "0"
end
