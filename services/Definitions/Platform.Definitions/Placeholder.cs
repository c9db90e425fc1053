namespace Platform.Definitions; internal static class Placeholder { }
