defmodule Realtime.NativeTest do
  # Not async: the allocator's figures are global to the VM.
  use ExUnit.Case, async: false

  alias Realtime.{Native, SortedSet}

  test "memory/0 reports the allocator's counters" do
    %{allocated: a, peak: p, allocations: n} = Native.memory()
    assert is_integer(a) and is_integer(p) and is_integer(n)
    assert p >= a
  end

  test "allocating a structure raises the figure and dropping it lowers it" do
    # Other processes' garbage holds NIF resources whose destructors would
    # run, and lower the figure, while this test measures: collect it first.
    for pid <- Process.list(), do: :erlang.garbage_collect(pid)
    before = Native.memory()
    parent = self()

    holder =
      spawn(fn ->
        set = SortedSet.from_enumerable(1..200_000)
        send(parent, {:built, Native.memory(), SortedSet.memory(set)})
        receive do: (:drop -> :ok)
      end)

    assert_receive {:built, during, set_bytes}, 10_000
    # Within 5%: the application's own processes keep allocating and freeing.
    assert during.allocated >= before.allocated + set_bytes * 0.95
    assert during.allocations > before.allocations
    assert during.peak >= during.allocated

    ref = Process.monitor(holder)
    send(holder, :drop)
    assert_receive {:DOWN, ^ref, :process, _, _}
    # The resource's destructor runs when the last reference is collected.
    after_drop = wait_until(fn -> Native.memory().allocated < during.allocated - div(set_bytes, 2) end)
    assert after_drop
  end

  defp wait_until(fun, tries \\ 50) do
    cond do
      fun.() -> true
      tries == 0 -> false
      true -> Process.sleep(20) && wait_until(fun, tries - 1)
    end
  end

  @tag :tmp_dir
  test "a missing library gives an error that says what to run", %{tmp_dir: tmp} do
    # A copy of the application without priv/ is what a checkout that was
    # never compiled looks like to a fresh VM.
    app = Path.join(tmp, "realtime")
    File.mkdir_p!(app)
    File.cp_r!(Path.dirname(:code.which(Native)), Path.join(app, "ebin"))

    {out, status} =
      System.cmd("elixir", ["-pa", Path.join(app, "ebin"), "-e", "Realtime.Native.memory()"], stderr_to_stdout: true)

    assert status != 0
    assert out =~ "the Realtime NIF library is not loaded"
    assert out =~ "mix compile"
    refute out =~ "nif_not_loaded"
  end
end
