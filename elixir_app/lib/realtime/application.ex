defmodule Realtime.Application do
  @moduledoc """
  The OTP application. Its supervision tree is the architecture: each child
  below is one layer of the system.
  """
  use Application
  require Logger

  @impl true
  @spec start(Application.start_type(), term) :: {:ok, pid} | {:error, term}
  def start(_type, _args) do
    children = [
      # Delivery processes for Realtime.Fanout.
      Realtime.Fanout.Supervisor
    ]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Realtime.Supervisor) do
      Logger.info("Realtime is up (NIF memory: #{Realtime.Native.memory().allocated} bytes)")
      {:ok, pid}
    end
  end
end
