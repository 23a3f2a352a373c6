defmodule Realtime.Store.MemoryTest do
  @moduledoc "The store contract on the in-memory adapter (while its tables' owner lives)."
  use Realtime.Test.StoreContract, open: &Realtime.Store.MemoryTest.open/1

  def open(name) do
    config = %{name: :"memory_#{name}_#{System.unique_integer([:positive])}"}
    {:ok, s, [_]} = Store.open(Store.Memory, config)
    {s, fn -> with {:ok, s, m} <- Store.open(Store.Memory, config), do: {s, m} end}
  end
end
