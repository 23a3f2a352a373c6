defmodule Realtime.Gateway do
  @moduledoc """
  Operations on the gateway as a whole.
  """

  @doc """
  Asks every connected client to reconnect (op 7), for example before a
  deploy. Their sessions stay resumable, so clients resume where they were.
  Returns the number of connections asked.
  """
  @spec drain(atom) :: non_neg_integer
  def drain(listener \\ Realtime.Gateway.Listener) do
    conns = :ranch.procs(listener, :connections)
    Enum.each(conns, &send(&1, :gateway_reconnect))
    length(conns)
  end
end
