defmodule Realtime.NativeTest do
  use ExUnit.Case, async: true

  test "memory/0 reports the allocator's counters" do
    %{allocated: a, peak: p, allocations: n} = Realtime.Native.memory()
    assert is_integer(a) and is_integer(p) and is_integer(n)
    assert p >= a
  end
end
