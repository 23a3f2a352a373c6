defmodule Mix.Tasks.Bench do
  @shortdoc "Runs a benchmark script from benches/elixir/"
  @moduledoc """
  Runs `benches/elixir/NAME.exs` with the application's code loaded.

      mix bench sorted_set
      mix bench            # lists the available benchmarks

  Each script prints its figures with a baseline measured in the same run.
  """
  use Mix.Task

  @dir "benches/elixir"

  @impl true
  @spec run([String.t()]) :: :ok
  def run([name | args]) do
    path = Path.join(@dir, name <> ".exs")
    unless File.exists?(path), do: Mix.raise("no benchmark #{path}; available: #{Enum.join(available(), ", ")}")
    Mix.Task.run("app.config")
    # Benchmarks keep their store in a temporary directory, never in ./data.
    Application.put_env(:realtime, :data_dir, {:tmp, "realtime-bench"})
    Application.ensure_all_started(:realtime)
    System.argv(args)
    Code.require_file(path)
    :ok
  end

  def run([]) do
    Mix.shell().info("usage: mix bench NAME, where NAME is one of: #{Enum.join(available(), ", ")}")
  end

  defp available, do: @dir |> Path.join("*.exs") |> Path.wildcard() |> Enum.map(&Path.basename(&1, ".exs"))
end
