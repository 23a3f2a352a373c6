defmodule Mix.Tasks.Compile.Native do
  @moduledoc """
  Builds the Rust NIF library with cargo and copies it into `priv/native/`.

  The build is skipped when no Rust source, manifest or lock file is newer
  than the library already in `priv/`. Cargo's own output is shown only when
  it fails.
  """
  use Mix.Task.Compiler

  @crate "realtime_nif"

  @doc "Path of the built library inside `priv/`, without the platform suffix."
  @spec library_path() :: Path.t()
  def library_path, do: Path.join([File.cwd!(), "priv", "native", "lib#{@crate}"])

  @impl true
  @spec run([String.t()]) :: {:ok | :noop | :error, [Mix.Task.Compiler.Diagnostic.t()]}
  def run(_args) do
    target = library_path() <> ".so"

    if stale?(target) do
      build(target)
    else
      {:noop, []}
    end
  end

  defp stale?(target) do
    case File.stat(target, time: :posix) do
      {:ok, %{mtime: built}} -> Enum.any?(sources(), &(mtime(&1) > built))
      {:error, _} -> true
    end
  end

  defp sources do
    ["Cargo.toml", "Cargo.lock"] ++ Path.wildcard("native/**/{*.rs,Cargo.toml}")
  end

  defp mtime(path) do
    case File.stat(path, time: :posix) do
      {:ok, %{mtime: t}} -> t
      {:error, _} -> 0
    end
  end

  # Mix links priv/ into _build only if it existed when the build structure
  # was made, and Elixir loaded Realtime.Native (running its @on_load) while
  # compiling it, before the library existed. Fix both for this VM.
  defp reload_nif_module do
    Mix.Project.build_structure()

    if :code.is_loaded(Realtime.Native) != false do
      :code.purge(Realtime.Native)
      :code.delete(Realtime.Native)
      :code.purge(Realtime.Native)
    end
  end

  defp build(target) do
    Mix.shell().info("Compiling NIF #{@crate} (cargo build --release)")

    case System.cmd("cargo", ["build", "--release", "--quiet", "-p", @crate],
           stderr_to_stdout: true
         ) do
      {_, 0} ->
        File.mkdir_p!(Path.dirname(target))
        # Copy to a temporary name and rename, so a running VM that has the
        # old library mapped never sees a half-written file.
        tmp = target <> ".tmp"
        File.cp!(Path.join(["target", "release", "lib#{@crate}.so"]), tmp)
        File.rename!(tmp, target)
        reload_nif_module()
        {:ok, []}

      {output, status} ->
        Mix.shell().error(output)
        Mix.raise("cargo build of #{@crate} failed with status #{status}")
    end
  end
end
