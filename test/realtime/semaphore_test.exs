defmodule Realtime.SemaphoreTest do
  use ExUnit.Case, async: true

  alias Realtime.Semaphore

  defp name, do: {:test, System.unique_integer()}

  test "at most max slots are held; releasing frees one, and twice is a no-op" do
    n = name()
    assert {:ok, a} = Semaphore.acquire(n, 2)
    assert {:ok, _b} = Semaphore.acquire(n, 2)
    assert Semaphore.acquire(n, 2) == :full
    assert Semaphore.release(a) == :ok
    assert Semaphore.release(a) == :ok
    assert Semaphore.count(n) == 1
    assert {:ok, _} = Semaphore.acquire(n, 2)
    assert Semaphore.acquire(n, 2) == :full
  end

  test "a slot frees itself when its holder dies" do
    n = name()
    parent = self()

    holder =
      spawn(fn ->
        {:ok, _} = Semaphore.acquire(n, 1)
        send(parent, :held)
        receive do: (:exit -> :ok)
      end)

    assert_receive :held
    assert Semaphore.acquire(n, 1) == :full
    ref = Process.monitor(holder)
    send(holder, :exit)
    assert_receive {:DOWN, ^ref, _, _, _}
    assert wait_until(fn -> Semaphore.count(n) == 0 end)
    assert {:ok, _} = Semaphore.acquire(n, 1)
  end

  test "a lease holds its slot for its time, even after the caller is gone" do
    n = name()
    task = Task.async(fn -> Semaphore.acquire_lease(n, 1, 200) end)
    assert Task.await(task) == :ok
    assert Semaphore.acquire_lease(n, 1, 200) == :full
    assert wait_until(fn -> Semaphore.count(n) == 0 end)
    assert Semaphore.acquire_lease(n, 1, 200) == :ok
  end

  test "under contention, exactly max of many concurrent acquirers win" do
    n = name()
    parent = self()

    pids =
      for _ <- 1..50 do
        spawn(fn ->
          send(parent, {:result, Semaphore.acquire(n, 7)})
          receive do: (:exit -> :ok)
        end)
      end

    results = for _ <- pids, do: receive(do: ({:result, r} -> r))
    assert Enum.count(results, &match?({:ok, _}, &1)) == 7
    for p <- pids, do: send(p, :exit)
    assert wait_until(fn -> Semaphore.count(n) == 0 end)
  end

  defp wait_until(fun, tries \\ 100) do
    cond do
      fun.() -> true
      tries == 0 -> false
      true -> Process.sleep(10) && wait_until(fun, tries - 1)
    end
  end
end
